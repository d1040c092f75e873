//! Request fields, read the way MLflow's server reads them: GET from the query string (a repeated
//! key is a list), everything else from a JSON object body with `Content-Type: application/json`.
//! Typed getters produce MLflow's messages for missing and mistyped fields.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, Method};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::types::KeyValue;

/// The fields of one request (or of one nested object in it).
#[derive(Debug, Clone, Default)]
pub struct Fields {
    map: Map<String, Value>,
    /// Query strings carry only text, and a repeated key makes a list: getters are lenient
    /// about both. JSON bodies are typed and held to their types.
    query: bool,
}

/// Python's name for a JSON value's type, as MLflow's messages show it.
fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn invalid_value(field: &str, v: &Value) -> Error {
    Error::invalid(format!(
        "Invalid value {v} for parameter '{field}' supplied:  Hint: Value was of type '{}'. See the API docs for more information about request parameters.",
        py_type(v)
    ))
}

impl Fields {
    pub fn from_map(map: Map<String, Value>) -> Self {
        Fields { map, query: false }
    }

    fn scalar(&self, k: &str, v: &Value) -> Fields {
        Fields {
            map: Map::from_iter([(k.to_owned(), v.clone())]),
            query: self.query,
        }
    }

    /// Parse a query string; repeated keys become arrays.
    pub fn from_query(q: &str) -> Self {
        let mut map = Map::new();
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            let v = Value::String(v.into_owned());
            match map.get_mut(k.as_ref()) {
                Some(Value::Array(a)) => a.push(v),
                Some(old) => {
                    let first = old.take();
                    *old = Value::Array(vec![first, v]);
                }
                None => {
                    map.insert(k.into_owned(), v);
                }
            }
        }
        Fields { map, query: true }
    }

    /// Parse a JSON body that must be an object.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Fields::default());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Fields { map, query: false }),
            Ok(other) => Err(Error::bad_request(format!(
                "Invalid JSON in request body: expected an object, got {}",
                py_type(&other)
            ))),
            Err(e) => Err(Error::bad_request(format!(
                "Malformed JSON in request body: {e}"
            ))),
        }
    }

    pub fn raw(&self, k: &str) -> Option<&Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    /// A string field; a one-element list (query strings) counts as its element.
    pub fn str(&self, k: &str) -> Result<Option<String>> {
        match self.raw(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(a)) if self.query => {
                Ok(a.last().and_then(|v| v.as_str()).map(str::to_owned))
            }
            Some(v) => Err(invalid_value(k, v)),
        }
    }

    /// A required string: absent or empty is MLflow's "Missing value" error.
    pub fn req_str(&self, k: &str) -> Result<String> {
        match self.str(k)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(Error::missing(k)),
        }
    }

    /// The first present of several spellings (`run_id` / `run_uuid`).
    pub fn req_str_any(&self, keys: &[&str]) -> Result<String> {
        for k in keys {
            if let Some(s) = self.str(k)?.filter(|s| !s.is_empty()) {
                return Ok(s);
            }
        }
        Err(Error::missing(keys[0]))
    }

    /// An integer: JSON numbers with no fraction, or (proto JSON / query strings) decimal text.
    pub fn i64(&self, k: &str) -> Result<Option<i64>> {
        match self.raw(k) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| invalid_value(k, v)),
            Some(v @ Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| invalid_value(k, v)),
            Some(Value::Array(a)) if self.query && !a.is_empty() => {
                self.scalar(k, &a[a.len() - 1]).i64(k)
            }
            Some(v) => Err(invalid_value(k, v)),
        }
    }

    pub fn req_i64(&self, k: &str) -> Result<i64> {
        self.i64(k)?.ok_or_else(|| Error::missing(k))
    }

    /// A double: numbers, numeric text, and proto JSON's "NaN" / "Infinity" / "-Infinity".
    pub fn f64(&self, k: &str) -> Result<Option<f64>> {
        match self.raw(k) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| invalid_value(k, v)),
            Some(v @ Value::String(s)) => match s.trim() {
                "NaN" | "nan" => Ok(Some(f64::NAN)),
                "Infinity" | "inf" => Ok(Some(f64::INFINITY)),
                "-Infinity" | "-inf" => Ok(Some(f64::NEG_INFINITY)),
                t => t.parse::<f64>().map(Some).map_err(|_| invalid_value(k, v)),
            },
            Some(Value::Array(a)) if self.query && !a.is_empty() => {
                self.scalar(k, &a[a.len() - 1]).f64(k)
            }
            Some(v) => Err(invalid_value(k, v)),
        }
    }

    pub fn bool(&self, k: &str) -> Result<Option<bool>> {
        match self.raw(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v @ Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" | "" => Ok(Some(false)),
                _ => Err(invalid_value(k, v)),
            },
            Some(Value::Array(a)) if self.query && !a.is_empty() => {
                self.scalar(k, &a[a.len() - 1]).bool(k)
            }
            Some(v) => Err(invalid_value(k, v)),
        }
    }

    /// An enum value, by name or (proto JSON) by number.
    pub fn enum_str(&self, k: &str) -> Result<Option<String>> {
        match self.raw(k) {
            Some(Value::Number(n)) if n.is_i64() => Ok(Some(n.to_string())),
            _ => self.str(k),
        }
    }

    /// A list of strings (in a query string, a single value counts as a one-element list).
    pub fn str_list(&self, k: &str) -> Result<Vec<String>> {
        match self.raw(k) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) if self.query => Ok(vec![s.clone()]),
            Some(v @ Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(invalid_value(k, v)),
                })
                .collect(),
            Some(v) => Err(invalid_value(k, v)),
        }
    }

    /// A list of nested objects.
    pub fn obj_list(&self, k: &str) -> Result<Vec<Fields>> {
        match self.raw(k) {
            None => Ok(Vec::new()),
            Some(v @ Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::Object(m) => Ok(Fields {
                        map: m.clone(),
                        query: false,
                    }),
                    _ => Err(invalid_value(k, v)),
                })
                .collect(),
            Some(v) => Err(invalid_value(k, v)),
        }
    }

    /// A nested object.
    pub fn obj(&self, k: &str) -> Result<Option<Fields>> {
        match self.raw(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Fields {
                map: m.clone(),
                query: false,
            })),
            Some(v) => Err(invalid_value(k, v)),
        }
    }

    /// The filter, ordering, page size and page token every search endpoint reads.
    pub fn search_request(&self) -> Result<crate::types::SearchRequest> {
        Ok(crate::types::SearchRequest {
            filter: self.str("filter")?,
            order_by: self.str_list("order_by")?,
            max_results: self.i64("max_results")?,
            page_token: self.str("page_token")?,
            visible: crate::types::Visible::All,
        })
    }

    /// `[{key, value}]` lists (tags, params). A missing key is an error; a missing value is "".
    pub fn key_values(&self, k: &str) -> Result<Vec<KeyValue>> {
        self.obj_list(k)?
            .into_iter()
            .map(|f| {
                Ok(KeyValue::new(
                    f.req_str("key")?,
                    f.str("value")?.unwrap_or_default(),
                ))
            })
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            return Ok(Fields::from_query(req.uri().query().unwrap_or("")));
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or(""));
        match content_type {
            None => {
                return Err(Error::invalid(
                    "Bad Request. Content-Type header is missing.",
                ))
            }
            Some(ct) => {
                let mime = ct.split(';').next().unwrap_or("").trim();
                if !mime.eq_ignore_ascii_case("application/json") {
                    return Err(Error::invalid(
                        "Bad Request. Content-Type must be one of ['application/json'].",
                    ));
                }
            }
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::new(
                    crate::error::ErrorCode::RequestTooLarge,
                    "Request body is too large.",
                )
            } else {
                Error::bad_request(format!("Could not read the request body: {e}"))
            }
        })?;
        Fields::from_json(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lists_and_scalars() {
        let f = Fields::from_query("run_ids=a&run_ids=b&metric_key=m%20x&max_results=5");
        assert_eq!(f.str_list("run_ids").unwrap(), vec!["a", "b"]);
        assert_eq!(f.str("metric_key").unwrap().as_deref(), Some("m x"));
        assert_eq!(f.i64("max_results").unwrap(), Some(5));
        assert_eq!(f.str_list("absent").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn json_types() {
        let f = Fields::from_json(br#"{"name": 5, "ts": "12", "v": "NaN", "ok": "x"}"#).unwrap();
        let e = f.str("name").unwrap_err();
        assert!(
            e.message.contains("Invalid value 5 for parameter 'name'"),
            "{}",
            e.message
        );
        assert!(e.message.contains("'int'"));
        assert_eq!(f.i64("ts").unwrap(), Some(12));
        assert!(f.f64("v").unwrap().unwrap().is_nan());
        assert!(f
            .req_str("missing")
            .unwrap_err()
            .message
            .starts_with("Missing value for required parameter 'missing'"));
        assert!(Fields::from_json(b"[1]").is_err());
        assert!(Fields::from_json(b"{").is_err());
        assert!(Fields::from_json(b"").is_ok());
        let f = Fields::from_json(br#"{"name": ["a"], "ids": "1", "view": 2}"#).unwrap();
        assert!(
            f.str("name").is_err(),
            "a list is not a string in a JSON body"
        );
        assert!(
            f.str_list("ids").is_err(),
            "a string is not a list in a JSON body"
        );
        assert_eq!(f.enum_str("view").unwrap().as_deref(), Some("2"));
    }
}
