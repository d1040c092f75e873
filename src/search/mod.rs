//! MLflow's search grammar, parsed once into an AST that the store turns into SQL with bound
//! parameters (never by pasting strings into SQL).
//!
//! ```text
//! filter     := or_expr
//! or_expr    := and_expr ( OR and_expr )*          -- OR and parentheses go beyond MLflow
//! and_expr   := primary ( AND primary )*
//! primary    := '(' or_expr ')' | comparison
//! comparison := ident op value | ident [NOT] IN '(' value, ... ')' | ident IS [NOT] NULL
//! ident      := [entity '.'] key                    -- key bare, `backticked` or "quoted"
//! order_by   := ident [ASC | DESC]
//! ```
//!
//! The same AST serves runs, experiments, registered models, model versions and logged models;
//! each search declares which fields it allows through a [`Schema`].

pub mod fields;
mod lexer;
mod parser;

pub use parser::{parse_filter, parse_order_by};

use base64::Engine;

use crate::error::{Error, Result};

/// What a search field refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Metric,
    Param,
    Tag,
    Attribute,
    Dataset,
}

impl Entity {
    pub fn name(self) -> &'static str {
        match self {
            Entity::Metric => "metric",
            Entity::Param => "parameter",
            Entity::Tag => "tag",
            Entity::Attribute => "attribute",
            Entity::Dataset => "dataset",
        }
    }

    /// Map the prefix before the first `.` to an entity, accepting MLflow's alternate spellings.
    pub(crate) fn from_prefix(prefix: &str) -> Option<Entity> {
        Some(match prefix.to_ascii_lowercase().as_str() {
            "metric" | "metrics" => Entity::Metric,
            "param" | "params" | "parameter" | "parameters" => Entity::Param,
            "tag" | "tags" => Entity::Tag,
            "attribute" | "attributes" | "attr" | "run" => Entity::Attribute,
            "dataset" | "datasets" => Entity::Dataset,
            _ => return None,
        })
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    ILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Like => "LIKE",
            Op::ILike => "ILIKE",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::IsNull => "IS NULL",
            Op::IsNotNull => "IS NOT NULL",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le)
    }
}

/// A literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    List(Vec<String>),
    Null,
}

/// One `field op value` test.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub entity: Entity,
    pub key: String,
    pub op: Op,
    pub value: Value,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp(Comparison),
}

impl Expr {
    /// Every comparison in the expression, for validation.
    pub fn comparisons(&self) -> Vec<&Comparison> {
        let mut out = Vec::new();
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a Comparison>) {
            match e {
                Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| walk(x, out)),
                Expr::Cmp(c) => out.push(c),
            }
        }
        walk(self, &mut out);
        out
    }
}

/// One `order_by` term.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub entity: Entity,
    pub key: String,
    pub ascending: bool,
}

/// How a field may be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Numbers, compared with `= != > >= < <=`.
    Numeric,
    /// Strings, compared with `= != LIKE ILIKE IN NOT IN` (and `IS [NOT] NULL` where nullable).
    Text,
    /// An identifier: `= != IN NOT IN`.
    Id,
}

/// One searchable attribute: its name in filters, how it compares, its column in the store.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The name (lower-case, as written by users).
    pub name: &'static str,
    pub kind: FieldKind,
    /// The column of the entity's table that holds it.
    pub column: &'static str,
}

/// What one search endpoint accepts: which entities, which attributes and their kinds and
/// columns ([`fields`] has one per entity).
pub struct Schema {
    /// Name for messages ("run", "experiment", "registered model", ...).
    pub what: &'static str,
    pub entities: &'static [Entity],
    pub attributes: &'static [Field],
    /// Dataset fields (for runs: name, digest, context).
    pub dataset_fields: &'static [&'static str],
    /// Entity assumed for a bare identifier (MLflow: attribute for runs and experiments).
    pub bare: Entity,
}

impl Schema {
    /// The column of a (validated) attribute, and whether it is numeric.
    pub fn column(&self, name: &str) -> Option<(&'static str, bool)> {
        self.attributes
            .iter()
            .find(|f| f.name == name)
            .map(|f| (f.column, f.kind == FieldKind::Numeric))
    }

    fn attribute(&self, name: &str) -> Option<&Field> {
        self.attributes.iter().find(|f| f.name == name)
    }

    /// Check every comparison against the schema, normalising attribute names.
    pub fn validate(&self, expr: &mut Expr) -> Result<()> {
        match expr {
            Expr::And(v) | Expr::Or(v) => v.iter_mut().try_for_each(|e| self.validate(e)),
            Expr::Cmp(c) => self.validate_cmp(c),
        }
    }

    fn validate_cmp(&self, c: &mut Comparison) -> Result<()> {
        if !self.entities.contains(&c.entity) {
            return Err(Error::invalid(format!(
                "Invalid {} search filter: {} fields are not supported (got '{}')",
                self.what,
                c.entity.name(),
                c.key
            )));
        }
        let kind = match c.entity {
            Entity::Metric => FieldKind::Numeric,
            Entity::Param | Entity::Tag => FieldKind::Text,
            Entity::Dataset => {
                let k = c.key.to_ascii_lowercase();
                if !self.dataset_fields.contains(&k.as_str()) {
                    return Err(Error::invalid(format!(
                        "Invalid dataset key '{}'. Valid keys are {:?}",
                        c.key, self.dataset_fields
                    )));
                }
                c.key = k;
                FieldKind::Text
            }
            Entity::Attribute => {
                let k = canonical_attribute(&c.key);
                match self.attribute(&k) {
                    Some(f) => {
                        c.key = f.name.to_owned();
                        f.kind
                    }
                    None => {
                        let names: Vec<&str> = self.attributes.iter().map(|f| f.name).collect();
                        return Err(Error::invalid(format!(
                            "Invalid attribute key '{}' specified. Valid keys are '{:?}'",
                            c.key, names
                        )));
                    }
                }
            }
        };
        check_operator(c, kind)
    }

    /// Check an order_by term against the schema.
    pub fn validate_order(&self, o: &mut OrderBy) -> Result<()> {
        if !self.entities.contains(&o.entity) || o.entity == Entity::Dataset {
            return Err(Error::invalid(format!(
                "Invalid order_by entity type '{}' for {} search",
                o.entity.name(),
                self.what
            )));
        }
        if o.entity == Entity::Attribute {
            let k = canonical_attribute(&o.key);
            match self.attribute(&k) {
                Some(f) => o.key = f.name.to_owned(),
                None => {
                    return Err(Error::invalid(format!(
                        "Invalid order_by attribute key '{}' for {} search",
                        o.key, self.what
                    )))
                }
            }
        }
        Ok(())
    }
}

/// MLflow accepts camelCase and snake_case spellings of a few attributes.
fn canonical_attribute(key: &str) -> String {
    let k = key.to_ascii_lowercase();
    match k.as_str() {
        "run_uuid" | "runid" | "run_id" | "id" => "run_id".into(),
        "runname" | "run_name" => "run_name".into(),
        "starttime" | "start_time" | "created" | "creation_time" | "creationtime" => {
            if k.starts_with("creat") {
                "creation_time".into()
            } else {
                "start_time".into()
            }
        }
        "endtime" | "end_time" => "end_time".into(),
        "userid" | "user_id" => "user_id".into(),
        "artifacturi" | "artifact_uri" => "artifact_uri".into(),
        "lifecyclestage" | "lifecycle_stage" => "lifecycle_stage".into(),
        "last_update_time" | "lastupdatetime" => "last_update_time".into(),
        "last_updated_timestamp" | "lastupdatedtimestamp" => "last_updated_timestamp".into(),
        "creation_timestamp" | "creationtimestamp" => "creation_timestamp".into(),
        "version_number" | "versionnumber" => "version_number".into(),
        _ => k,
    }
}

const NUMERIC_OPS: &str = "'{'=', '>', '<=', '!=', '<', '>='}'";

fn check_operator(c: &mut Comparison, kind: FieldKind) -> Result<()> {
    let ok = match kind {
        FieldKind::Numeric => c.op.is_numeric() || matches!(c.op, Op::IsNull | Op::IsNotNull),
        FieldKind::Text => !matches!(c.op, Op::Gt | Op::Ge | Op::Lt | Op::Le),
        FieldKind::Id => matches!(
            c.op,
            Op::Eq | Op::Ne | Op::In | Op::NotIn | Op::Like | Op::ILike
        ),
    };
    if !ok {
        return Err(match kind {
            FieldKind::Numeric => Error::invalid(format!(
                "Invalid comparator '{}' not one of {NUMERIC_OPS}",
                c.op.as_str()
            )),
            _ => Error::invalid(format!(
                "Invalid comparator '{}' for {} '{}': not one of '{{'=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'}}'",
                c.op.as_str(),
                c.entity.name(),
                c.key
            )),
        });
    }
    match (&c.value, kind, c.op) {
        (Value::Null, _, Op::IsNull | Op::IsNotNull) => Ok(()),
        (Value::List(_), _, Op::In | Op::NotIn) => Ok(()),
        (_, _, Op::In | Op::NotIn) => Err(Error::invalid(format!(
            "While parsing a list in the query, expected a non-empty list of string values, but got {:?}",
            c.value
        ))),
        (Value::Num(_), FieldKind::Numeric, _) => Ok(()),
        (Value::Str(s), FieldKind::Numeric, _) => {
            // MLflow tolerates quoted numbers for numeric attributes (`start_time > '123'`).
            match s.trim().parse::<f64>() {
                Ok(n) if c.entity == Entity::Attribute => {
                    c.value = Value::Num(n);
                    Ok(())
                }
                _ => Err(Error::invalid(format!(
                    "Expected numeric value type for {} '{}'. Found '{}'",
                    c.entity.name(),
                    c.key,
                    s
                ))),
            }
        }
        (Value::Str(_), _, _) => Ok(()),
        (Value::Num(n), _, _) => Err(Error::invalid(format!(
            "Expected a quoted string value for {} '{}'. Found {}",
            c.entity.name(),
            c.key,
            n
        ))),
        (v, _, op) => Err(Error::invalid(format!(
            "Invalid value {v:?} for comparator '{}'",
            op.as_str()
        ))),
    }
}

/// Most comparisons one filter may hold (beyond this, databases refuse the statement).
pub const MAX_COMPARISONS: usize = 500;
/// Most values all `IN (...)` lists of one filter may hold together.
pub const MAX_LIST_VALUES: usize = 10_000;
/// Most order_by terms one search may have (each can add a join).
pub const MAX_ORDER_BY: usize = 20;

/// Parse and validate a filter string for a schema; an empty filter is `None`.
pub fn filter_for(schema: &Schema, filter: Option<&str>) -> Result<Option<Expr>> {
    let Some(f) = filter.filter(|f| !f.trim().is_empty()) else {
        return Ok(None);
    };
    let mut e = parse_filter(f)?;
    let comparisons = e.comparisons();
    if comparisons.len() > MAX_COMPARISONS {
        return Err(Error::invalid(format!(
            "Invalid filter: it has {} comparisons; at most {MAX_COMPARISONS} are supported.",
            comparisons.len()
        )));
    }
    let values: usize = comparisons
        .iter()
        .map(|c| match &c.value {
            Value::List(v) => v.len(),
            _ => 1,
        })
        .sum();
    if values > MAX_LIST_VALUES {
        return Err(Error::invalid(format!(
            "Invalid filter: it compares against {values} values; at most {MAX_LIST_VALUES} are supported."
        )));
    }
    schema.validate(&mut e)?;
    Ok(Some(e))
}

/// Parse and validate order_by terms for a schema.
pub fn order_for(schema: &Schema, terms: &[String]) -> Result<Vec<OrderBy>> {
    if terms.len() > MAX_ORDER_BY {
        return Err(Error::invalid(format!(
            "Invalid order_by: {} clauses given; at most {MAX_ORDER_BY} are supported.",
            terms.len()
        )));
    }
    let order: Vec<OrderBy> = terms
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let mut o = parse_order_by(t)?;
            if o.entity == Entity::Attribute && !schema.entities.contains(&Entity::Attribute) {
                o.entity = schema.bare;
            }
            schema.validate_order(&mut o)?;
            Ok(o)
        })
        .collect::<Result<_>>()?;
    for (i, o) in order.iter().enumerate() {
        if order[..i]
            .iter()
            .any(|p| p.entity == o.entity && p.key == o.key)
        {
            let shown: Vec<String> = terms.iter().map(|t| format!("'{t}'")).collect();
            return Err(Error::invalid(format!(
                "`order_by` contains duplicate fields: [{}]",
                shown.join(", ")
            )));
        }
    }
    Ok(order)
}

/// Where the next page of a search starts. MLflow's tokens hold `{"offset": N}`; run searches
/// add where Weir's plan stands, so a deep page need not walk every earlier row: the `segment`
/// of the plan the page starts in (rows with the ordered key, then NaN, then without it), the
/// position in that segment, and the sort key of the last row returned (`after`, for keyset
/// paging). A token is the client's input: every field is checked where it is used.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<serde_json::Value>>,
}

impl Cursor {
    /// The token for this cursor (MLflow's shape when it holds only an offset).
    pub fn encode(&self) -> String {
        if self.segment.is_none() && self.after.is_none() && self.segment_offset.is_none() {
            return encode_page_token(self.offset);
        }
        let json = serde_json::to_string(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// Decode a page token (absent or empty: the first page).
    pub fn decode(token: Option<&str>) -> Result<Cursor> {
        let Some(v) = token_json(token)? else {
            return Ok(Cursor::default());
        };
        let offset = token_offset(&v)?;
        let mut c: Cursor = serde_json::from_value(v)
            .map_err(|_| Error::invalid("Invalid page token, its fields are malformed"))?;
        c.offset = offset;
        if c.after.as_ref().is_some_and(|a| a.len() > 8) {
            return Err(Error::invalid(
                "Invalid page token, its sort key is malformed",
            ));
        }
        Ok(c)
    }
}

/// A page token's JSON (absent or empty: `None`), with MLflow's messages for what is not.
fn token_json(token: Option<&str>) -> Result<Option<serde_json::Value>> {
    let Some(t) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(t.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(t.trim()))
        .map_err(|_| Error::invalid("Invalid page token, could not base64-decode"))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| Error::invalid("Invalid page token, decoded value=not JSON"))
}

fn token_offset(v: &serde_json::Value) -> Result<u64> {
    v.get("offset")
        .and_then(|o| o.as_u64())
        .ok_or_else(|| Error::invalid("Invalid page token, it does not contain an offset"))
}

/// Opaque page tokens: base64 of `{"offset": N}`, as MLflow's.
pub fn encode_page_token(offset: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

/// Decode a page token into an offset (absent or empty = 0).
pub fn decode_page_token(token: Option<&str>) -> Result<u64> {
    token_json(token)?.map_or(Ok(0), |v| token_offset(&v))
}

#[cfg(test)]
mod tests;
