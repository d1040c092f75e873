//! Run searches planned for experiments of a million runs.
//!
//! - A search ordered first by a metric, param or tag reads its rows in [`Segment`]s (rows with
//!   a value, NaN metrics, rows without the key), each a query the `(key, value)` index drives in
//!   the order's direction and stops after one page, instead of one query that sorts every row
//!   to put missing values last. The order of the rows is MLflow's, ties included.
//! - Pages continue where the last one ended. Where the whole order is the leading term (or
//!   nothing) then MLflow's tie-breaks (`start_time DESC, run_uuid ASC`), the token holds the
//!   last row's sort key and the next page starts right after it (keyset paging: page 1,000
//!   costs what page 1 costs). Other orders hold the position in the segment. Tokens stay
//!   MLflow-shaped (`{"offset": N, ...}`), and a bare `{"offset": N}` still works.
//! - A search in the default order over one experiment, filtered by `params.k = 'v'`, reads
//!   that param's rows, which carry their run's experiment and start time, from an index in
//!   the default order ([`walked`]): it tests only the runs with that value, not every run of
//!   the experiment until enough match.

use serde_json::Value as Json;
use sqlx::Row;

use super::builder::{Arg, Search, Segment, Sql};
use super::runs::{run_info_from_row, TARGET};
use super::*;
use crate::search::{Comparison, Cursor, Entity, Expr, Op, Value};

/// A row of a page, with where it stands in the plan.
struct Found {
    info: RunInfo,
    /// The leading order term's value (rows of the `Present` segment).
    lead: Option<Json>,
    segment: usize,
    position: i64,
}

/// Where a page starts: a segment, a position in it, or the sort key of the row before.
struct Start {
    segment: usize,
    position: i64,
    after: Option<Vec<Arg>>,
}

fn bad_token() -> Error {
    Error::invalid("Invalid page token: it does not belong to this search")
}

impl SqlStore {
    /// The run infos of one page and the next page's token.
    pub(super) async fn search_run_page(
        &self,
        q: &RunSearch,
    ) -> Result<(Vec<RunInfo>, Option<String>)> {
        let q = &RunSearch {
            filter: q.filter.clone().map(cheap_first),
            ..q.clone()
        };
        let lead = q
            .order_by
            .first()
            .filter(|o| matches!(o.entity, Entity::Metric | Entity::Param | Entity::Tag));
        let segments: Vec<Option<Segment>> = match lead {
            Some(o) => Segment::plan(o.entity)
                .iter()
                .filter(|s| !excluded(q.filter.as_ref(), o, **s))
                .map(|s| Some(*s))
                .collect(),
            None => vec![None],
        };
        // The sort key is (leading value,) start_time, run_uuid: nothing else to compare.
        let keyset = q.order_by.is_empty() || (lead.is_some() && q.order_by.len() == 1);
        let walk = walked(q);
        let drive = match self.dialect {
            Dialect::Sqlite if walk.is_none() => self.selective(q.filter.as_ref()).await?,
            // A walk reads only matching rows already; PostgreSQL's planner chooses between
            // driving from a selective comparison and walking the runs itself.
            Dialect::Sqlite | Dialect::Postgres => None,
        };
        let access = Access { drive, walk };
        let max_results = usize::try_from(q.max_results).unwrap_or(0).max(1);
        let mut at = self.start(q, &segments, keyset, access).await?;
        let mut found: Vec<Found> = Vec::new();
        while found.len() <= max_results && at.segment < segments.len() {
            let want = max_results + 1 - found.len();
            let segment = segments[at.segment];
            let sql = self.run_segment_sql(q, segment, &at, want as i64, access)?;
            let rows = sql.query().fetch_all(&self.reader).await?;
            for (k, r) in rows.iter().enumerate() {
                let lead_value = match (segment, lead) {
                    (Some(Segment::Present), Some(o)) if o.entity == Entity::Metric => {
                        Some(Json::String(r.try_get::<f64, _>(9)?.to_string()))
                    }
                    (Some(Segment::Present), Some(_)) => Some(Json::String(r.try_get(9)?)),
                    _ => None,
                };
                found.push(Found {
                    info: run_info_from_row(r)?,
                    lead: lead_value,
                    segment: at.segment,
                    position: at.position + k as i64,
                });
            }
            if rows.len() < want {
                at = Start {
                    segment: at.segment + 1,
                    position: 0,
                    after: None,
                };
            } else {
                break;
            }
        }
        let next = if found.len() > max_results {
            let (last, next) = (&found[max_results - 1], &found[max_results]);
            let after = (keyset && last.segment == next.segment).then(|| {
                let mut key: Vec<Json> = last.lead.iter().cloned().collect();
                key.push(Json::from(last.info.start_time));
                key.push(Json::String(last.info.run_uuid.clone()));
                key
            });
            let cursor = Cursor {
                offset: q.cursor.offset.saturating_add(max_results as u64),
                segment: Some(next.segment as u32),
                segment_offset: after.is_none().then_some(next.position as u64),
                after,
            };
            found.truncate(max_results);
            Some(cursor.encode())
        } else {
            None
        };
        Ok((found.into_iter().map(|f| f.info).collect(), next))
    }

    /// Where the page of `q.cursor` starts.
    async fn start(
        &self,
        q: &RunSearch,
        segments: &[Option<Segment>],
        keyset: bool,
        access: Access<'_>,
    ) -> Result<Start> {
        let c = &q.cursor;
        let Some(segment) = c.segment else {
            if c.after.is_some() {
                return Err(bad_token());
            }
            let offset = i64::try_from(c.offset).map_err(|_| bad_token())?;
            return self.locate(q, segments, offset, access).await;
        };
        let segment = segment as usize;
        if segment >= segments.len() {
            return Err(bad_token());
        }
        let after = match &c.after {
            None => None,
            Some(_) if !keyset => return Err(bad_token()),
            Some(key) => Some(parse_key(key, segments[segment], q)?),
        };
        let position = match c.segment_offset {
            Some(p) => i64::try_from(p).map_err(|_| bad_token())?,
            None if after.is_some() => 0,
            None => return Err(bad_token()),
        };
        Ok(Start {
            segment,
            position,
            after,
        })
    }

    /// The segment and position of the `offset`-th row (a token holding only an offset).
    async fn locate(
        &self,
        q: &RunSearch,
        segments: &[Option<Segment>],
        offset: i64,
        access: Access<'_>,
    ) -> Result<Start> {
        let mut left = offset;
        for (i, segment) in segments.iter().enumerate() {
            if left == 0 || segments.len() == 1 {
                return Ok(Start {
                    segment: i,
                    position: left,
                    after: None,
                });
            }
            // How many rows this segment has, counting no further than needed.
            let from_start = Start {
                segment: i,
                position: 0,
                after: None,
            };
            let inner =
                self.run_segment_sql(q, *segment, &from_start, left.saturating_add(1), access)?;
            let mut count = Sql::new(self.dialect);
            count
                .push("SELECT COUNT(*) FROM (")
                .push(&inner.text)
                .push(") c");
            count.args = inner.args;
            let n: i64 = count.query().fetch_one(&self.reader).await?.try_get(0)?;
            if n > left {
                return Ok(Start {
                    segment: i,
                    position: left,
                    after: None,
                });
            }
            left -= n;
        }
        Ok(Start {
            segment: segments.len(),
            position: 0,
            after: None,
        })
    }

    /// The query reading up to `want` rows of one segment from `at`.
    fn run_segment_sql(
        &self,
        q: &RunSearch,
        segment: Option<Segment>,
        at: &Start,
        want: i64,
        access: Access<'_>,
    ) -> Result<Sql> {
        let Access { drive, walk } = access;
        // Walking a param's rows, their copies of the run's start time and id give the order,
        // so its index does.
        let (start_time, run_uuid) = if walk.is_some() {
            ("d.start_time", "d.run_uuid")
        } else {
            ("r.start_time", "r.run_uuid")
        };
        // Tie-breaks, as MLflow's: newest start first, then run id.
        let mut tie_break = Vec::new();
        if !q
            .order_by
            .iter()
            .any(|o| o.entity == Entity::Attribute && o.key == "start_time")
        {
            tie_break.push(format!("{start_time} DESC"));
        }
        tie_break.push(format!("{run_uuid} ASC"));
        let stages: Vec<String> = q.view.stages().iter().map(|s| s.to_string()).collect();
        let lead_ascending = q.order_by.first().is_some_and(|o| o.ascending);
        // Starting from a selective comparison (SQLite): `+` keeps the planner off the
        // experiment's index, whatever its statistics say, so it starts from that comparison.
        let experiment = if drive.is_some() {
            "+r.experiment_id IN "
        } else {
            "r.experiment_id IN "
        };
        let scope = |s: &mut Sql| {
            s.push(experiment)
                .i64_list(&q.experiment_ids)
                .push(" AND r.lifecycle_stage IN ")
                .str_list(&stages);
            if walk.is_some() {
                if let [experiment_id] = q.experiment_ids[..] {
                    s.push(" AND d.experiment_id = ").i64(experiment_id);
                }
            }
            if let Some(key) = &at.after {
                let mut columns: Vec<(&str, bool)> = Vec::new();
                if key.len() == 3 {
                    columns.push(("s0.value", lead_ascending));
                }
                columns.push((start_time, false));
                columns.push((run_uuid, true));
                s.push(" AND ");
                s.keyset(&columns, key);
            }
        };
        Sql::search(
            self.dialect,
            &Search {
                target: &TARGET,
                scope: &scope,
                filter: q.filter.as_ref(),
                order_by: &q.order_by,
                tie_break,
                max_results: want - 1,
                offset: if at.after.is_some() { 0 } else { at.position },
                metric_scope: None,
                segment,
                drive,
                walk,
            },
        )
    }
}

/// How a search reaches its rows, other than walking the experiment's runs in order.
#[derive(Clone, Copy)]
struct Access<'f> {
    /// A selective comparison to start from (SQLite; see [`SqlStore::selective`]).
    drive: Option<&'f Comparison>,
    /// A param equality whose rows to walk in the default order (see [`walked`]).
    walk: Option<&'f Comparison>,
}

/// The param equality a search in the default order over one experiment reads its rows from:
/// the `(key, value, experiment_id, start_time DESC, run_uuid)` index lists exactly the runs
/// with that param value, newest first, so the search tests only those (each for the rest of
/// the filter) and stops after a page. Walking all the experiment's runs instead tests every
/// run until enough match: for a value one run in twelve has, twelve times as many.
fn walked(q: &RunSearch) -> Option<&Comparison> {
    if !q.order_by.is_empty() || q.experiment_ids.len() != 1 {
        return None;
    }
    top_level(q.filter.as_ref())
        .into_iter()
        .find(|c| c.entity == Entity::Param && c.op == Op::Eq && matches!(c.value, Value::Str(_)))
}

/// At most this many rows may match a comparison for the search to start from them (SQLite).
const SELECTIVE_ROWS: i64 = 2_000;

impl SqlStore {
    /// The filter's most selective param or tag comparison (ANDed with the rest, matched by
    /// `=`, `IN` or a `LIKE` with a fixed prefix), if its `(key, value)` index range holds at
    /// most [`SELECTIVE_ROWS`] rows: counted, stopping there, which costs a millisecond.
    async fn selective<'f>(&self, filter: Option<&'f Expr>) -> Result<Option<&'f Comparison>> {
        let candidates: Vec<&Comparison> = top_level(filter)
            .into_iter()
            .filter(|c| matches!(c.entity, Entity::Param | Entity::Tag))
            .filter(|c| match (&c.op, &c.value) {
                (Op::Eq | Op::In, _) => true,
                (Op::Like, Value::Str(p)) => !p.starts_with(['%', '_']),
                _ => false,
            })
            .collect();
        let mut best: Option<(i64, &Comparison)> = None;
        for c in candidates {
            let table = if c.entity == Entity::Param {
                "params"
            } else {
                "tags"
            };
            let mut s = Sql::new(self.dialect);
            s.push("SELECT COUNT(*) FROM (SELECT 1 FROM ")
                .push(table)
                .push(" kv WHERE kv.key = ")
                .str(&c.key)
                .push(" AND ");
            s.text_cmp("kv.value", c.op, &c.value)?;
            s.push(" LIMIT ").i64(SELECTIVE_ROWS + 1).push(") c");
            let n: i64 = s.query().fetch_one(&self.reader).await?.try_get(0)?;
            if n <= SELECTIVE_ROWS && best.is_none_or(|(m, _)| n < m) {
                best = Some((n, c));
            }
        }
        Ok(best.map(|(_, c)| c))
    }
}

/// The filter with its top-level AND terms in the order rows are best tested: plain columns,
/// then param and tag equalities (usually the most selective), then other param and tag tests,
/// then metrics. SQLite tests them as written, so a row failing a cheap, selective test is not
/// probed for the rest; the rows matched are the same.
fn cheap_first(filter: Expr) -> Expr {
    let rank = |e: &Expr| match e {
        Expr::Cmp(c) => match (c.entity, c.op) {
            (Entity::Attribute, _) => 0,
            (Entity::Param | Entity::Tag, Op::Eq | Op::In) => 1,
            (Entity::Param | Entity::Tag, _) => 2,
            (Entity::Metric, _) => 3,
            (Entity::Dataset, _) => 4,
        },
        _ => 5,
    };
    match filter {
        Expr::And(mut v) => {
            v.sort_by_key(rank);
            Expr::And(v)
        }
        other => other,
    }
}

/// The comparisons a filter ANDs at its top (all rows must meet each).
fn top_level(filter: Option<&Expr>) -> Vec<&Comparison> {
    match filter {
        Some(Expr::Cmp(c)) => vec![c],
        Some(Expr::And(v)) => v
            .iter()
            .filter_map(|e| match e {
                Expr::Cmp(c) => Some(c),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A token's sort key, checked against the segment it is for: `[lead,] start_time, run_uuid`.
fn parse_key(key: &[Json], segment: Option<Segment>, q: &RunSearch) -> Result<Vec<Arg>> {
    let lead = match (segment, q.order_by.first()) {
        (Some(Segment::Present), Some(o)) => Some(o.entity),
        _ => None,
    };
    let expected = if lead.is_some() { 3 } else { 2 };
    if key.len() != expected {
        return Err(bad_token());
    }
    let mut out = Vec::with_capacity(expected);
    let mut rest = key;
    if let Some(entity) = lead {
        let text = key[0].as_str().ok_or_else(bad_token)?;
        out.push(if entity == Entity::Metric {
            Arg::F64(text.parse::<f64>().map_err(|_| bad_token())?)
        } else {
            Arg::Str(text.to_owned())
        });
        rest = &key[1..];
    }
    out.push(Arg::I64(rest[0].as_i64().ok_or_else(bad_token)?));
    out.push(Arg::Str(rest[1].as_str().ok_or_else(bad_token)?.to_owned()));
    Ok(out)
}

/// Whether the filter rules out a whole segment: a comparison on the ordered key itself, ANDed
/// with the rest, needs the key (no `Missing` rows) and, for a numeric comparison of a metric,
/// a number (no `NaN` rows). Skipping them spares a scan that would find nothing.
fn excluded(filter: Option<&Expr>, lead: &crate::search::OrderBy, segment: Segment) -> bool {
    top_level(filter).iter().any(|c| {
        c.entity == lead.entity
            && c.key == lead.key
            && match segment {
                Segment::Present => false,
                Segment::Missing => c.op != Op::IsNull,
                Segment::NaN => c.entity == Entity::Metric && c.op.is_numeric(),
            }
    })
}
