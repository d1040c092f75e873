//! The wire formats of scoring, as pure functions over the model's input [`Schema`], unit-tested
//! without a server: MLflow's JSON request shapes ([`mlflow`]: `dataframe_split`,
//! `dataframe_records`, `instances`, `inputs`), CSV ([`csv`]), pandas-like tables to tensors
//! ([`frame`]), KServe V2 requests ([`kserve`], with raw tensors in [`binary`]) and every answer
//! ([`encode`]). [`json`] keeps
//! object keys in the client's order. Error texts and classes follow what `mlflow models serve`
//! answers (see `scoring_onnx_champion.txt`): malformed bodies are `BAD_REQUEST`, inputs that do
//! not fit the model are schema-enforcement failures.
//!
//! Every decoder is bounded: JSON parses into at most [`Schema::value_budget`] values, tables hold
//! at most `--max-rows` rows and [`MAX_COLUMNS`] columns, and each step is linear in its input.

pub mod binary;
pub mod csv;
pub mod encode;
pub mod frame;
pub mod json;
pub mod kserve;
pub mod mlflow;

pub use csv::{decode_csv, parse_csv};
pub use frame::{cast, frame_to_tensors, Frame};
pub use mlflow::{decode_instances, decode_json};

use super::tensor::{DType, Kind, Spec, Tensor};
use json::J;

/// What the decoder needs to know about a model's inputs.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The ONNX graph's inputs, in order (all tensors).
    pub inputs: Vec<Spec>,
    /// Column names from an MLflow column-based signature, when the model has one tensor input but
    /// was logged with a DataFrame example: dataframe inputs are then matched to it by name.
    pub columns: Option<Vec<String>>,
    /// Most rows one request may carry (`--max-rows`).
    pub max_rows: usize,
}

/// `--max-rows`'s default.
pub const DEFAULT_MAX_ROWS: usize = 100_000;
/// Most columns a DataFrame request may name.
pub const MAX_COLUMNS: usize = 65_536;

impl Default for Schema {
    fn default() -> Self {
        Schema {
            inputs: Vec::new(),
            columns: None,
            max_rows: DEFAULT_MAX_ROWS,
        }
    }
}

/// Why a request could not be turned into tensors.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// Malformed body (MLflow's `BAD_REQUEST`).
    BadRequest(String),
    /// Well-formed, but does not fit the model (MLflow's `SCHEMA_ENFORCEMENT_FAILED`).
    Schema(String),
}

impl DecodeError {
    pub fn message(&self) -> &str {
        match self {
            DecodeError::BadRequest(m) | DecodeError::Schema(m) => m,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, DecodeError>;

/// A Python tuple, as numpy prints a shape: `(1, 3)`, `(-1,)`.
pub fn py_tuple<T: std::fmt::Display>(dims: &[T]) -> String {
    match dims {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Schema {
    /// Values in one row of the model's input (all inputs together), when every dimension but
    /// the batch is known.
    pub fn row_width(&self) -> Option<usize> {
        let mut total = 0usize;
        for s in &self.inputs {
            let Kind::Tensor { shape, .. } = &s.kind else {
                return None;
            };
            if shape.is_empty() {
                return None;
            }
            let mut w = 1usize;
            for &d in &shape[1..] {
                w = w.checked_mul(usize::try_from(d).ok()?)?;
            }
            total = total.checked_add(w)?;
        }
        Some(total.max(1))
    }

    /// How many JSON values a body of `len` bytes may decode into: `--max-rows` rows of the
    /// model's input (each row's values and the list or object around them), never more than
    /// the body could hold.
    pub fn value_budget(&self, len: usize) -> usize {
        let by_body = len.saturating_add(16);
        match self.row_width() {
            Some(w) => self
                .max_rows
                .saturating_mul(w.saturating_add(1))
                .saturating_add(4096)
                .min(by_body),
            None => by_body,
        }
    }

    fn too_many(&self, what: impl std::fmt::Display) -> DecodeError {
        DecodeError::BadRequest(format!(
            "Invalid input. The request holds {what}; at most {} rows are accepted per request (--max-rows).",
            self.max_rows
        ))
    }

    /// Refuse a decoded batch of more than `--max-rows` rows.
    pub fn check_rows(&self, tensors: &[Tensor]) -> Result<()> {
        match tensors.first().and_then(|t| t.shape.first()) {
            Some(&n) if n > self.max_rows => Err(self.too_many(format!("{n} rows"))),
            _ => Ok(()),
        }
    }

    /// Parse a JSON body within this model's value budget.
    pub fn parse_json(&self, bytes: &[u8]) -> std::result::Result<J, json::ParseError> {
        json::parse_limited(bytes, self.value_budget(bytes.len()))
    }

    fn budget_error(&self, n: usize) -> DecodeError {
        self.too_many(format!("more than {n} values"))
    }

    /// MLflow's error for inputs the request does not name (`present` says which it does).
    pub(crate) fn require_inputs(&self, present: impl Fn(&str) -> bool) -> Result<()> {
        let missing: Vec<String> = self
            .inputs
            .iter()
            .filter(|s| !present(&s.name))
            .map(|s| format!("'{}'", s.name))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(self.schema_error(format!("Model is missing inputs [{}].", missing.join(", "))))
        }
    }

    /// MLflow's rendering of the schema: `[Tensor('float32', (-1, 4))]`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .inputs
            .iter()
            .map(|s| {
                let t = match &s.kind {
                    Kind::Tensor { dtype, shape } => {
                        format!("Tensor('{}', {})", dtype.numpy_name(), py_tuple(shape))
                    }
                    Kind::ZipMap { .. } => "Map".to_owned(),
                };
                if self.inputs.len() > 1 {
                    format!("'{}': {t}", s.name)
                } else {
                    t
                }
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }

    fn schema_error(&self, detail: impl std::fmt::Display) -> DecodeError {
        DecodeError::Schema(format!(
            "Failed to enforce schema of data with schema '{}'. Error: {detail}",
            self.describe()
        ))
    }

    fn tensor_spec(&self, i: usize) -> (&str, DType, &[i64]) {
        match &self.inputs[i].kind {
            Kind::Tensor { dtype, shape } => (&self.inputs[i].name, *dtype, shape),
            // Not produced for inputs by the loaders; decode as untyped floats if it ever is.
            Kind::ZipMap { .. } => (&self.inputs[i].name, DType::F32, &[]),
        }
    }

    fn input_index(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests;
