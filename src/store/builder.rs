//! Building SQL text with bound arguments, and compiling search ASTs into it.
//!
//! Values from requests only ever become bound arguments (`$N`); the only text spliced into SQL
//! is what this module writes itself (column names from fixed tables, placeholders, operators).

use sqlx::any::AnyArguments;
use sqlx::Arguments;

use super::Dialect;
use crate::error::{Error, Result};
use crate::search::{Comparison, Entity, Op, Schema, Value};

/// A bound argument.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    I64(i64),
    F64(f64),
    Str(String),
    NullStr,
}

/// SQL text plus its arguments, numbered in order of appearance.
pub(super) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
    pub dialect: Dialect,
    /// The address of the comparison compiled as `id IN (SELECT ...)` (see [`Search::drive`]).
    drive: Option<usize>,
    /// The address of the comparison the rows are read from (see [`Search::walk`]).
    walk: Option<usize>,
}

impl Sql {
    pub fn new(dialect: Dialect) -> Self {
        Sql {
            text: String::with_capacity(512),
            args: Vec::new(),
            dialect,
            drive: None,
            walk: None,
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Append a placeholder bound to `arg`.
    pub fn arg(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let n = self.args.len();
        self.text.push('$');
        self.text.push_str(&n.to_string());
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.arg(Arg::Str(s.to_owned()))
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.arg(Arg::I64(v))
    }

    /// ` ORDER BY <terms> LIMIT <max_results + 1> OFFSET <offset>`: one row more than a page, so
    /// the caller knows whether another page follows.
    pub fn order_and_page(&mut self, order: &[String], max_results: i64, offset: i64) -> &mut Self {
        self.push(" ORDER BY ")
            .push(&order.join(", "))
            .push(" LIMIT ")
            .i64(max_results + 1)
            .push(" OFFSET ")
            .i64(offset)
    }

    /// `(` placeholders `)` for a list of strings.
    pub fn str_list(&mut self, items: &[String]) -> &mut Self {
        self.push("(");
        for (i, s) in items.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.str(s);
        }
        self.push(")")
    }

    /// `(SELECT ...)` yielding the strings of `items`, bound as one JSON array: for long lists
    /// (a page of run ids) one placeholder instead of thousands, which the database parses and
    /// plans in a fraction of the time. Use after `IN`.
    pub fn str_set(&mut self, items: &[String]) -> &mut Self {
        let json = serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned());
        match self.dialect {
            Dialect::Sqlite => self
                .push("(SELECT value FROM json_each(")
                .str(&json)
                .push("))"),
            Dialect::Postgres => self
                .push("(SELECT json_array_elements_text(CAST(")
                .str(&json)
                .push(" AS JSON)))"),
        }
    }

    pub fn i64_list(&mut self, items: &[i64]) -> &mut Self {
        self.push("(");
        for (i, v) in items.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.i64(*v);
        }
        self.push(")")
    }

    /// ` AND <column> [NOT] IN (...)`: the rows the caller may see. `numeric` columns (experiment
    /// ids) compare as integers; a granted id that is not one names no row.
    pub fn visible(
        &mut self,
        column: &str,
        visible: &crate::types::Visible,
        numeric: bool,
    ) -> &mut Self {
        use crate::types::Visible;
        let (ids, negate) = match visible {
            Visible::All => return self,
            Visible::Only(ids) => (ids, false),
            Visible::Except(ids) => (ids, true),
        };
        let ints: Vec<i64> = ids.iter().filter_map(|i| i.parse().ok()).collect();
        let empty = if numeric {
            ints.is_empty()
        } else {
            ids.is_empty()
        };
        if empty {
            return if negate {
                self
            } else {
                self.push(" AND 1 = 0")
            };
        }
        self.push(" AND ")
            .push(column)
            .push(if negate { " NOT IN " } else { " IN " });
        if numeric {
            self.i64_list(&ints)
        } else {
            self.str_list(ids)
        }
    }

    /// Rows after a sort key, for keyset paging: `(c0, c1, ...) > (v0, v1, ...)` in the order's
    /// directions (`true`: ascending), with a plain bound on `c0` an index can start from.
    /// The columns must not be NULL.
    pub fn keyset(&mut self, columns: &[(&str, bool)], key: &[Arg]) -> &mut Self {
        let pairs: Vec<_> = columns.iter().zip(key).collect();
        let Some(((c0, asc0), v0)) = pairs.first() else {
            return self.push("1 = 1");
        };
        self.push(c0)
            .push(if *asc0 { " >= " } else { " <= " })
            .arg((*v0).clone())
            .push(" AND ");
        for (i, ((c, asc), v)) in pairs.iter().enumerate() {
            self.push("(")
                .push(c)
                .push(if *asc { " > " } else { " < " })
                .arg((*v).clone());
            if i + 1 < pairs.len() {
                self.push(" OR (")
                    .push(c)
                    .push(" = ")
                    .arg((*v).clone())
                    .push(" AND ");
            }
        }
        for i in 0..pairs.len() {
            self.push(if i + 1 < pairs.len() { "))" } else { ")" });
        }
        self
    }

    /// The statement, ready to run.
    pub fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, AnyArguments<'_>> {
        sqlx::query_with(&self.text, self.arguments())
    }

    pub fn arguments<'q>(&self) -> AnyArguments<'q> {
        let mut a = AnyArguments::default();
        for arg in &self.args {
            // Encoding these primitive types cannot fail.
            let _ = match arg {
                Arg::I64(v) => a.add(*v),
                Arg::F64(v) => a.add(*v),
                Arg::Str(s) => a.add(s.clone()),
                Arg::NullStr => a.add(Option::<String>::None),
            };
        }
        a
    }

    /// `column <op> value` for a text column, honouring each dialect's LIKE rules: MLflow's LIKE
    /// is case-sensitive, ILIKE is not. SQLite's LIKE ignores ASCII case, so LIKE becomes GLOB.
    pub fn text_cmp(&mut self, column: &str, op: Op, value: &Value) -> Result<()> {
        match (op, value) {
            (Op::IsNull, _) => {
                self.push(column).push(" IS NULL");
            }
            (Op::IsNotNull, _) => {
                self.push(column).push(" IS NOT NULL");
            }
            (Op::In | Op::NotIn, Value::List(items)) => {
                self.push(column)
                    .push(if op == Op::In { " IN " } else { " NOT IN " });
                self.str_list(items);
            }
            (Op::Like, Value::Str(p)) => match self.dialect {
                Dialect::Sqlite => {
                    self.push(column).push(" GLOB ").str(&like_to_glob(p));
                }
                Dialect::Postgres => match prefix_range(p) {
                    // The pattern's fixed prefix also as a range of byte strings (the operators
                    // of `text_pattern_ops`), which an index of that class reads with bound
                    // values and whatever the database's collation (a plain LIKE can use an index
                    // only under the C collation, and only when planned for its value); the LIKE
                    // still decides which rows match.
                    Some((low, high)) => {
                        self.push("(")
                            .push(column)
                            .push(" LIKE ")
                            .str(p)
                            .push(" AND ")
                            .push(column)
                            .push(" ~>=~ ")
                            .str(&low);
                        if let Some(high) = high {
                            self.push(" AND ").push(column).push(" ~<~ ").str(&high);
                        }
                        self.push(")");
                    }
                    None => {
                        self.push(column).push(" LIKE ").str(p);
                    }
                },
            },
            (Op::ILike, Value::Str(p)) => match self.dialect {
                Dialect::Sqlite => {
                    self.push("LOWER(")
                        .push(column)
                        .push(") LIKE LOWER(")
                        .str(p)
                        .push(")");
                }
                Dialect::Postgres => {
                    self.push(column).push(" ILIKE ").str(p);
                }
            },
            (Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le, Value::Str(s)) => {
                self.push(column).push(sql_op(op)).str(s);
            }
            (Op::Eq | Op::Ne, Value::Num(n)) => {
                // A number compared with a text field: compare with its canonical text.
                self.push(column).push(sql_op(op)).str(&format_number(*n));
            }
            _ => {
                return Err(Error::invalid(format!(
                    "Invalid comparison '{} {:?}'",
                    op.as_str(),
                    value
                )))
            }
        }
        Ok(())
    }

    /// `column <op> number` for a numeric column.
    pub fn num_cmp(&mut self, column: &str, op: Op, value: &Value) -> Result<()> {
        match (op, value) {
            (Op::IsNull, _) => {
                self.push(column).push(" IS NULL");
            }
            (Op::IsNotNull, _) => {
                self.push(column).push(" IS NOT NULL");
            }
            (Op::In | Op::NotIn, Value::List(items)) => {
                let nums: Vec<i64> = items
                    .iter()
                    .map(|s| {
                        s.trim().parse::<i64>().map_err(|_| {
                            Error::invalid(format!(
                                "Expected numeric values in the list, got '{s}'"
                            ))
                        })
                    })
                    .collect::<Result<_>>()?;
                self.push(column)
                    .push(if op == Op::In { " IN " } else { " NOT IN " });
                self.i64_list(&nums);
            }
            (op, Value::Num(n)) if op.is_numeric() => {
                self.push(column).push(sql_op(op)).arg(Arg::F64(*n));
            }
            _ => {
                return Err(Error::invalid(format!(
                    "Invalid numeric comparison '{} {:?}'",
                    op.as_str(),
                    value
                )))
            }
        }
        Ok(())
    }
}

pub(super) fn sql_op(op: Op) -> &'static str {
    match op {
        Op::Eq => " = ",
        Op::Ne => " <> ",
        Op::Gt => " > ",
        Op::Ge => " >= ",
        Op::Lt => " < ",
        Op::Le => " <= ",
        _ => " = ",
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// The strings a PostgreSQL LIKE pattern can match lie in `[low, high)` in byte order: `low` is
/// its fixed prefix (up to the first `%`, `_` or escaping `\`), `high` that prefix with its last
/// character's code point one higher (UTF-8's byte order is code point order), or none when no
/// character can be raised. `None` when the pattern starts with a wildcard.
pub(super) fn prefix_range(p: &str) -> Option<(String, Option<String>)> {
    let end = p.find(['%', '_', '\\']).unwrap_or(p.len());
    let low = &p[..end];
    if low.is_empty() {
        return None;
    }
    let mut chars: Vec<char> = low.chars().collect();
    let high = loop {
        let Some(last) = chars.pop() else {
            break None;
        };
        // The next code point that is a char (surrogates are not).
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            break Some(chars.into_iter().collect());
        }
    };
    Some((low.to_owned(), high))
}

/// Translate a SQL LIKE pattern into a SQLite GLOB pattern (case-sensitive matching).
pub(super) fn like_to_glob(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 4);
    for c in p.chars() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            other => out.push(other),
        }
    }
    out
}

/// Whose tags a tag table holds: the table and the columns (with their values) naming the owner.
pub(super) struct TagOwner {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub values: Vec<Arg>,
}

/// Insert tags for one owner, replacing the values of keys it already has.
pub(super) async fn upsert_tags(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
    owner: &TagOwner,
    tags: &[crate::types::KeyValue],
) -> Result<()> {
    let columns = owner.columns.join(", ");
    for t in tags {
        let mut s = Sql::new(dialect);
        s.push("INSERT INTO ")
            .push(owner.table)
            .push(" (")
            .push(&columns)
            .push(", key, value) VALUES (");
        for v in &owner.values {
            s.arg(v.clone()).push(", ");
        }
        s.str(&t.key)
            .push(", ")
            .str(&t.value)
            .push(") ON CONFLICT (")
            .push(&columns)
            .push(", key) DO UPDATE SET value = excluded.value");
        s.query().execute(&mut **tx).await?;
    }
    Ok(())
}

/// A side table of a searchable entity: where its metrics, params, tags or dataset inputs live.
pub(super) struct Side {
    pub entity: Entity,
    pub table: &'static str,
    /// The condition joining a side row (alias `{j}`) to the main row.
    pub join: &'static str,
    /// Whether (row, key) is unique there: unique tables are LEFT JOINed for ordering, others
    /// read through a correlated subquery taking the newest value.
    pub unique: bool,
}

/// One searchable entity as the store reads it, written once for filters and orderings alike:
/// its table and alias, its field table, and its side tables.
pub(super) struct SearchTarget {
    pub table: &'static str,
    pub alias: &'static str,
    /// The columns a search selects (`<alias>.col, ...`).
    pub columns: &'static str,
    pub fields: &'static Schema,
    pub sides: &'static [Side],
    /// A side table whose rows also carry their row's `experiment_id` and `start_time` (runs'
    /// params): its `(key, value, experiment_id, start_time DESC, run_uuid)` index lists the rows
    /// with one key and value in the default order (see [`Search::walk`]).
    pub walk_side: Option<Entity>,
    /// Registry semantics: `tags.k != 'v'` also matches rows without the tag (the 3.x client
    /// appends ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every model search).
    pub ne_includes_missing: bool,
}

impl SearchTarget {
    fn side(&self, entity: Entity) -> Option<&Side> {
        self.sides.iter().find(|s| s.entity == entity)
    }
}

/// A search, compiled: what to read, which rows, in which order, which page.
pub(super) struct Search<'a> {
    pub target: &'a SearchTarget,
    /// The condition every row must meet (experiment ids, lifecycle), pushed by the caller.
    pub scope: &'a dyn Fn(&mut Sql),
    pub filter: Option<&'a crate::search::Expr>,
    pub order_by: &'a [crate::search::OrderBy],
    /// Terms that break ties after the requested order (MLflow's defaults).
    pub tie_break: Vec<String>,
    pub max_results: i64,
    pub offset: i64,
    /// A condition every metric comparison adds over its row `kv` (logged models' `datasets`).
    pub metric_scope: Option<&'a dyn Fn(&mut Sql)>,
    /// Read only one [`Segment`] of a search whose first order term is a metric, param or tag.
    pub segment: Option<Segment>,
    /// A selective param or tag comparison of the filter (one of its own), written as
    /// `id IN (SELECT ...)` so SQLite starts from its `(key, value)` index instead of testing
    /// every row with `EXISTS`; the caller knows it matches few rows.
    pub drive: Option<&'a Comparison>,
    /// A `key = value` comparison of the filter (one of its own, on the target's
    /// [`SearchTarget::walk_side`]) whose side rows the search reads, alias `d`, joining each to
    /// its row: the caller orders by `d.start_time DESC, d.run_uuid` and scopes
    /// `d.experiment_id`, so one index range yields the rows in order and the query stops after
    /// a page.
    pub walk: Option<&'a Comparison>,
}

/// A search ordered first by a metric, param or tag reads its rows in consecutive segments, as
/// MLflow orders them: rows with a value (ordered by it), rows whose metric is NaN, rows without
/// the key. Each segment is a query an index can drive in order and stop early (the
/// `(key, value)` index walked in the order's direction), where one query ordering by "missing
/// last" must sort every row first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment {
    /// Rows with the key (and, for metrics, a number): the leading side row is `s0`.
    Present,
    /// Rows whose metric is NaN (`s0`).
    NaN,
    /// Rows without the key.
    Missing,
}

impl Segment {
    /// The segments of a search ordered first by `entity`, in MLflow's order.
    pub fn plan(entity: Entity) -> &'static [Segment] {
        match entity {
            Entity::Metric => &[Segment::Present, Segment::NaN, Segment::Missing],
            _ => &[Segment::Present, Segment::Missing],
        }
    }
}

impl Sql {
    /// `SELECT <columns> FROM <table> <order joins> WHERE <scope> [AND <filter>] ORDER BY ...
    /// LIMIT <page + 1> OFFSET <offset>`, every value bound.
    pub fn search(dialect: Dialect, q: &Search<'_>) -> Result<Sql> {
        if let Some(segment) = q.segment {
            return Sql::search_segment(dialect, q, segment);
        }
        let t = q.target;
        let mut s = Sql::new(dialect);
        s.drive = q.drive.map(|c| c as *const Comparison as usize);
        s.walk = q.walk.map(|c| c as *const Comparison as usize);
        let mut joins = String::new();
        let mut order = s.order_terms(&mut joins, q.order_by, t)?;
        order.extend(q.tie_break.iter().cloned());
        s.push("SELECT ").push(t.columns).push(" FROM ");
        if let Some(c) = q.walk {
            let side = t
                .side(c.entity)
                .filter(|_| t.walk_side == Some(c.entity))
                .ok_or_else(|| Error::internal("walked search", "no side table to walk"))?;
            // CROSS JOIN: SQLite reads `d` first, as written.
            s.push(side.table)
                .push(match dialect {
                    Dialect::Sqlite => " d CROSS JOIN ",
                    Dialect::Postgres => " d JOIN ",
                })
                .push(t.table)
                .push(" ")
                .push(t.alias)
                .push(" ON ")
                .push(&side.join.replace("{j}", "d"));
        } else {
            s.push(t.table).push(" ").push(t.alias);
        }
        s.push(&joins).push(" WHERE ");
        (q.scope)(&mut s);
        if let Some(f) = q.filter {
            s.push(" AND ");
            s.filter(t, f, q.metric_scope)?;
        }
        s.order_and_page(&order, q.max_results, q.offset);
        Ok(s)
    }
}

impl Sql {
    /// One [`Segment`] of a search whose first order term is a metric, param or tag. `Present`
    /// and `NaN` start from the side table (`s0`, joined to the row) and also select `s0.value`;
    /// placeholders appear in the order their arguments are pushed (SQLite numbers them so).
    fn search_segment(dialect: Dialect, q: &Search<'_>, segment: Segment) -> Result<Sql> {
        let t = q.target;
        let lead = q
            .order_by
            .first()
            .ok_or_else(|| Error::internal("segmented search", "no order term"))?;
        let side = t
            .side(lead.entity)
            .filter(|s| s.unique && s.entity != Entity::Dataset)
            .ok_or_else(|| Error::invalid(format!("Invalid order_by entity for '{}'", lead.key)))?;
        let metric = lead.entity == Entity::Metric;
        let cond = side.join.replace("{j}", "s0");
        let mut s = Sql::new(dialect);
        s.drive = q.drive.map(|c| c as *const Comparison as usize);
        let mut joins = String::new();
        let mut order = Vec::new();
        s.push("SELECT ").push(t.columns);
        if segment == Segment::Missing {
            let rest = s.order_terms(&mut joins, &q.order_by[1..], t)?;
            s.push(" FROM ")
                .push(t.table)
                .push(" ")
                .push(t.alias)
                .push(&joins)
                .push(" WHERE NOT EXISTS (SELECT 1 FROM ")
                .push(side.table)
                .push(" s0 WHERE ")
                .push(&cond)
                .push(" AND s0.key = ")
                .str(&lead.key)
                .push(") AND ");
            order.extend(rest);
        } else {
            // SQLite's planner would start from the row table and sort all of it; CROSS JOIN
            // makes it walk the side table's (key, value) index instead, in order.
            s.push(", s0.value FROM ")
                .push(side.table)
                .push(match dialect {
                    Dialect::Sqlite if q.drive.is_none() => " s0 CROSS JOIN ",
                    _ => " s0 JOIN ",
                })
                .push(t.table)
                .push(" ")
                .push(t.alias)
                .push(" ON ")
                .push(&cond)
                // With a selective comparison to start from, `+` keeps SQLite off the key's
                // index, so it reaches `s0` by the row's primary key instead.
                .push(if dialect == Dialect::Sqlite && q.drive.is_some() {
                    " AND +s0.key = "
                } else {
                    " AND s0.key = "
                })
                .str(&lead.key);
            if metric {
                s.push(if segment == Segment::NaN {
                    " AND s0.is_nan = 1"
                } else {
                    " AND s0.is_nan = 0"
                });
            }
            let rest = s.order_terms(&mut joins, &q.order_by[1..], t)?;
            s.push(&joins).push(" WHERE ");
            if segment == Segment::Present {
                order.push(format!(
                    "s0.value {}",
                    if lead.ascending { "ASC" } else { "DESC" }
                ));
            }
            order.extend(rest);
        }
        order.extend(q.tie_break.iter().cloned());
        (q.scope)(&mut s);
        if let Some(f) = q.filter {
            s.push(" AND ");
            s.filter(t, f, q.metric_scope)?;
        }
        s.order_and_page(&order, q.max_results, q.offset);
        Ok(s)
    }

    /// Compile a filter expression, each metric comparison also meeting `metric_scope`.
    pub fn filter(
        &mut self,
        t: &SearchTarget,
        e: &crate::search::Expr,
        metric_scope: Option<&dyn Fn(&mut Sql)>,
    ) -> Result<()> {
        use crate::search::Expr;
        match e {
            Expr::And(v) | Expr::Or(v) => {
                let joiner = if matches!(e, Expr::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.push("(");
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        self.push(joiner);
                    }
                    self.filter(t, x, metric_scope)?;
                }
                self.push(")");
                Ok(())
            }
            Expr::Cmp(c) => self.comparison(t, c, metric_scope),
        }
    }

    fn comparison(
        &mut self,
        t: &SearchTarget,
        c: &Comparison,
        metric_scope: Option<&dyn Fn(&mut Sql)>,
    ) -> Result<()> {
        let unsupported = || {
            Error::invalid(format!(
                "Unsupported {} filter on '{}'",
                c.entity.name(),
                c.key
            ))
        };
        match c.entity {
            Entity::Attribute => {
                let (col, numeric) = t.fields.column(&c.key).ok_or_else(unsupported)?;
                let column = format!("{}.{}", t.alias, col);
                if numeric {
                    self.num_cmp(&column, c.op, &c.value)
                } else {
                    self.text_cmp(&column, c.op, &c.value)
                }
            }
            Entity::Tag | Entity::Param => {
                let side = t.side(c.entity).ok_or_else(unsupported)?;
                if self.walk == Some(c as *const Comparison as usize) {
                    // The rows read are this comparison's side rows.
                    self.push("(d.key = ").str(&c.key).push(" AND ");
                    self.text_cmp("d.value", c.op, &c.value)?;
                    self.push(")");
                    return Ok(());
                }
                let (table, cond) = (side.table, side.join.replace("{j}", "kv"));
                if self.drive == Some(c as *const Comparison as usize) {
                    // `kv.run_uuid = r.run_uuid` → `r.run_uuid IN (SELECT kv.run_uuid ...)`.
                    if let Some((inner, outer)) = cond.split_once(" = ") {
                        self.push(outer)
                            .push(" IN (SELECT ")
                            .push(inner)
                            .push(" FROM ")
                            .push(table)
                            .push(" kv WHERE kv.key = ")
                            .str(&c.key)
                            .push(" AND ");
                        self.text_cmp("kv.value", c.op, &c.value)?;
                        self.push(")");
                        return Ok(());
                    }
                }
                let cond = cond.as_str();
                if c.entity == Entity::Tag && t.ne_includes_missing && c.op == Op::Ne {
                    let eq = Comparison {
                        op: Op::Eq,
                        ..c.clone()
                    };
                    self.push("NOT ");
                    return self.key_value_exists(table, cond, &eq, false, None);
                }
                self.key_value_exists(table, cond, c, false, None)
            }
            Entity::Metric => {
                let side = t.side(Entity::Metric).ok_or_else(unsupported)?;
                let cond = side.join.replace("{j}", "kv");
                self.key_value_exists(side.table, &cond, c, true, metric_scope)
            }
            Entity::Dataset => {
                let side = t.side(Entity::Dataset).ok_or_else(unsupported)?;
                let cond = side.join.replace("{j}", "kv");
                self.push("EXISTS (SELECT 1 FROM ")
                    .push(side.table)
                    .push(" kv WHERE ")
                    .push(&cond)
                    .push(" AND ");
                let column = match c.key.as_str() {
                    "name" => "kv.name",
                    "digest" => "kv.digest",
                    "context" => "kv.context",
                    _ => return Err(unsupported()),
                };
                self.text_cmp(column, c.op, &c.value)?;
                self.push(")");
                Ok(())
            }
        }
    }

    /// `EXISTS (key matches and value compares)`; `IS NULL` means the key is absent.
    fn key_value_exists(
        &mut self,
        table: &str,
        cond: &str,
        c: &Comparison,
        numeric: bool,
        scope: Option<&dyn Fn(&mut Sql)>,
    ) -> Result<()> {
        let negate = c.op == Op::IsNull;
        self.push(if negate {
            "NOT EXISTS (SELECT 1 FROM "
        } else {
            "EXISTS (SELECT 1 FROM "
        })
        .push(table)
        .push(" kv WHERE ")
        .push(cond)
        .push(" AND kv.key = ")
        .str(&c.key);
        if !matches!(c.op, Op::IsNull | Op::IsNotNull) {
            self.push(" AND ");
            if numeric {
                self.push("kv.is_nan = 0 AND ");
                self.num_cmp("kv.value", c.op, &c.value)?;
            } else {
                self.text_cmp("kv.value", c.op, &c.value)?;
            }
        }
        if let Some(scope) = scope {
            self.push(" AND ");
            scope(self);
        }
        self.push(")");
        Ok(())
    }
}

impl Sql {
    /// Bind the keys `order` needs, append LEFT JOINs to `joins`, and return ORDER BY terms with
    /// MLflow's NULL ordering (missing values last in both directions; NaN after numbers).
    pub fn order_terms(
        &mut self,
        joins: &mut String,
        order: &[crate::search::OrderBy],
        spec: &SearchTarget,
    ) -> Result<Vec<String>> {
        let mut terms = Vec::new();
        for (i, o) in order.iter().enumerate() {
            let dir = if o.ascending { "ASC" } else { "DESC" };
            if o.entity == Entity::Attribute {
                let (col, _) = spec
                    .fields
                    .column(&o.key)
                    .ok_or_else(|| Error::invalid(format!("Invalid order_by key '{}'", o.key)))?;
                let c = format!("{}.{col}", spec.alias);
                terms.push(format!("CASE WHEN {c} IS NULL THEN 1 ELSE 0 END"));
                terms.push(format!("{c} {dir}"));
                continue;
            }
            let side = spec
                .side(o.entity)
                .filter(|s| s.entity != Entity::Dataset)
                .ok_or_else(|| {
                    Error::invalid(format!("Invalid order_by entity for '{}'", o.key))
                })?;
            let (table, cond, unique) = (side.table, side.join, &side.unique);
            let j = format!("o{i}");
            let cond = cond.replace("{j}", &j);
            self.args.push(Arg::Str(o.key.clone()));
            let key = format!("${}", self.args.len());
            let numeric = o.entity == Entity::Metric;
            let value = if *unique {
                joins.push_str(&format!(
                    " LEFT JOIN {table} {j} ON {cond} AND {j}.key = {key}"
                ));
                format!("{j}.value")
            } else {
                let v = if numeric {
                    format!("CASE WHEN {j}.is_nan = 1 THEN NULL ELSE {j}.value END")
                } else {
                    format!("{j}.value")
                };
                format!("(SELECT {v} FROM {table} {j} WHERE {cond} AND {j}.key = {key} ORDER BY {j}.step DESC, {j}.timestamp DESC LIMIT 1)")
            };
            if numeric && *unique {
                terms.push(format!(
                    "CASE WHEN {value} IS NULL THEN 2 WHEN {j}.is_nan = 1 THEN 1 ELSE 0 END"
                ));
            } else {
                terms.push(format!("CASE WHEN {value} IS NULL THEN 1 ELSE 0 END"));
            }
            terms.push(format!("{value} {dir}"));
        }
        Ok(terms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_prefix_ranges() {
        use super::prefix_range;
        let r = |lo: &str, hi: Option<&str>| Some((lo.to_owned(), hi.map(str::to_owned)));
        assert_eq!(
            prefix_range("sweep-99999%"),
            r("sweep-99999", Some("sweep-9999:"))
        );
        assert_eq!(prefix_range("ab_c%"), r("ab", Some("ac")));
        assert_eq!(prefix_range("a\\%b%"), r("a", Some("b")));
        assert_eq!(prefix_range("exact"), r("exact", Some("exacu")));
        assert_eq!(prefix_range("é%"), r("é", Some("ê")));
        assert_eq!(prefix_range("\u{D7FF}%"), r("\u{D7FF}", Some("\u{E000}")));
        assert_eq!(prefix_range("a\u{10FFFF}%"), r("a\u{10FFFF}", Some("b")));
        assert_eq!(prefix_range("\u{10FFFF}%"), r("\u{10FFFF}", None));
        assert_eq!(prefix_range("%x"), None);
        assert_eq!(prefix_range("_x"), None);
        // Every string the pattern matches is in the range, in byte order.
        for (pattern, s) in [
            ("sweep-9%", "sweep-9\u{10FFFF}z"),
            ("a\u{D7FF}%", "a\u{D7FF}\u{10FFFF}"),
        ] {
            let (lo, hi) = prefix_range(pattern).unwrap();
            assert!(lo.as_bytes() <= s.as_bytes());
            assert!(
                hi.is_none_or(|h| s.as_bytes() < h.as_bytes()),
                "{pattern} {s}"
            );
        }
    }

    #[test]
    fn glob_translation() {
        assert_eq!(like_to_glob("wf-%"), "wf-*");
        assert_eq!(like_to_glob("a_b*c?[d"), "a?b[*]c[?][[]d");
    }

    #[test]
    fn values_are_bound_not_spliced() {
        let mut s = Sql::new(Dialect::Postgres);
        let t = &super::super::runs::TARGET;
        let e =
            crate::search::parse_filter("params.p = 'x'' OR 1=1 --' and metrics.m > 2").unwrap();
        s.filter(t, &e, None).unwrap();
        assert!(!s.text.contains("OR 1=1"), "{}", s.text);
        assert_eq!(s.args.len(), 4);
    }
}
