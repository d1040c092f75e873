//! A JSON value that keeps object keys in the order the client wrote them.
//!
//! `serde_json::Value` sorts object keys (the crate is built without `preserve_order`), but column
//! order matters here: a `dataframe_records` row `{"b": 1, "a": 2}` feeds a single-tensor model
//! `[1, 2]`, as pandas would.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[J]> {
        match self {
            J::Arr(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            J::Int(i) => Some(i),
            J::UInt(u) => i64::try_from(u).ok(),
            J::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
            _ => None,
        }
    }

    /// Python's name for the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            J::Null => "NoneType",
            J::Bool(_) => "bool",
            J::Int(_) | J::UInt(_) => "int",
            J::Float(_) => "float",
            J::Str(_) => "str",
            J::Arr(_) => "list",
            J::Obj(_) => "dict",
        }
    }
}

/// Short Python-like rendering of a scalar, for messages (`'a'`, `1.5`, `None`).
impl fmt::Display for J {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            J::Null => f.write_str("None"),
            J::Bool(true) => f.write_str("True"),
            J::Bool(false) => f.write_str("False"),
            J::Int(i) => write!(f, "{i}"),
            J::UInt(u) => write!(f, "{u}"),
            J::Float(x) => write!(f, "{x:?}"),
            J::Str(s) => {
                let shown: String = s.chars().take(100).collect();
                write!(f, "'{shown}'")
            }
            J::Arr(_) => f.write_str("[...]"),
            J::Obj(_) => f.write_str("{...}"),
        }
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<J, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J, E> {
        Ok(J::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => J::Int(i),
            Err(_) => J::UInt(v),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<J, E> {
        Ok(J::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<J, E> {
        Ok(J::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<J, E> {
        Ok(J::Str(v))
    }
    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_none<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<J, D::Error> {
        J::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(J::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut v: Vec<(String, J)> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        while let Some((k, x)) = map.next_entry::<String, J>()? {
            // A repeated key keeps its first position and its last value, as Python's json does.
            match index.get(&k) {
                Some(&i) => v[i].1 = x,
                None => {
                    index.insert(k.clone(), v.len());
                    v.push((k, x));
                }
            }
        }
        Ok(J::Obj(v))
    }
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

/// Parse a request body.
pub fn parse(bytes: &[u8]) -> Result<J, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Why a bounded parse failed.
#[derive(Debug)]
pub enum ParseError {
    /// Not JSON (the message is serde_json's).
    Syntax(serde_json::Error),
    /// More values than the budget allows: parsing stopped there.
    TooManyValues(usize),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Syntax(e) => write!(f, "{e}"),
            ParseError::TooManyValues(n) => write!(f, "more than {n} values"),
        }
    }
}

/// The budget marker inside serde's error text (serde errors carry only a message).
const BUDGET_MARKER: &str = "weir: value budget exhausted";

/// Counts values as they are built and stops past the budget, so a body can never make the
/// tree larger than `budget` nodes whatever its size.
struct Budgeted<'a> {
    left: &'a std::cell::Cell<usize>,
}

impl Budgeted<'_> {
    fn take<E: serde::de::Error>(&self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(n) => {
                self.left.set(n);
                Ok(())
            }
            None => Err(E::custom(BUDGET_MARKER)),
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Budgeted<'_> {
    type Value = J;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<J, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budgeted<'_> {
    type Value = J;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<J, E> {
        self.take()?;
        Ok(J::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<J, E> {
        self.take()?;
        Ok(J::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<J, E> {
        self.take()?;
        JVisitor.visit_u64(v)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<J, E> {
        self.take()?;
        Ok(J::Float(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<J, E> {
        self.take()?;
        Ok(J::Str(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<J, E> {
        self.take()?;
        Ok(J::Str(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<J, E> {
        self.take()?;
        Ok(J::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<J, E> {
        self.take()?;
        Ok(J::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        self.take()?;
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(Budgeted { left: self.left })? {
            v.push(x);
        }
        v.shrink_to_fit();
        Ok(J::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        self.take()?;
        let mut v: Vec<(String, J)> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        while let Some(k) = map.next_key::<String>()? {
            let x = map.next_value_seed(Budgeted { left: self.left })?;
            match index.get(&k) {
                // A repeated key keeps its first position and its last value, as Python's json.
                Some(&i) => v[i].1 = x,
                None => {
                    index.insert(k.clone(), v.len());
                    v.push((k, x));
                }
            }
        }
        Ok(J::Obj(v))
    }
}

/// Parse a request body into at most `budget` values (every scalar, list and object counts).
pub fn parse_limited(bytes: &[u8], budget: usize) -> Result<J, ParseError> {
    use serde::de::DeserializeSeed;
    let left = std::cell::Cell::new(budget);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Budgeted { left: &left }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| {
        if e.to_string().contains(BUDGET_MARKER) {
            ParseError::TooManyValues(budget)
        } else {
            ParseError::Syntax(e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_number_kinds() {
        let j = parse(
            br#"{"b": 1, "a": [2.5, -3, true, null, "x"], "b": 4, "u": 18446744073709551615}"#,
        )
        .unwrap();
        let J::Obj(fields) = &j else { panic!() };
        let keys: Vec<_> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "u"]);
        assert_eq!(j.get("b"), Some(&J::Int(4)));
        assert_eq!(j.get("u"), Some(&J::UInt(u64::MAX)));
        assert_eq!(
            j.get("a").unwrap().as_array().unwrap(),
            &[
                J::Float(2.5),
                J::Int(-3),
                J::Bool(true),
                J::Null,
                J::Str("x".into())
            ]
        );
        assert_eq!(J::Float(5.0).as_i64(), Some(5));
        assert_eq!(J::Float(5.5).as_i64(), None);
        assert_eq!(J::Str("a".into()).to_string(), "'a'");
    }

    #[test]
    fn budgets_stop_large_trees() {
        let body = format!("[{}0]", "0,".repeat(10_000));
        assert!(matches!(
            parse_limited(body.as_bytes(), 100),
            Err(ParseError::TooManyValues(100))
        ));
        let j = parse_limited(body.as_bytes(), 20_000).unwrap();
        assert_eq!(j.as_array().unwrap().len(), 10_001);
        assert_eq!(
            parse_limited(br#"{"a": 1, "a": 2}"#, 10).unwrap().get("a"),
            Some(&J::Int(2))
        );
        assert!(matches!(
            parse_limited(b"{", 10),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(
            parse_limited(b"[1] x", 10),
            Err(ParseError::Syntax(_))
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).is_err());
        assert!(parse(b"").is_err());
    }
}
