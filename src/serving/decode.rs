//! Request decoding: MLflow's scoring formats (`dataframe_split`, `dataframe_records`,
//! `instances`, `inputs`, CSV) and KServe V1 instances into the model's input tensors.
//!
//! Pure functions over the model's input [`Schema`], unit-tested without a server. Error texts and
//! classes follow what `mlflow models serve` answers (see `scoring_onnx_champion.txt`): malformed
//! bodies are `BAD_REQUEST`, inputs that do not fit the model are schema-enforcement failures.

use super::json::{self, J};
use super::tensor::{DType, Data, Kind, Spec, Tensor};

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

type Result<T> = std::result::Result<T, DecodeError>;

/// The JSON keys that select MLflow's input format, in the order MLflow's message lists them.
const FORMAT_KEYS: [&str; 4] = [
    "dataframe_records",
    "inputs",
    "instances",
    "dataframe_split",
];

fn format_keys_message() -> String {
    let keys: Vec<String> = FORMAT_KEYS.iter().map(|k| format!("'{k}'")).collect();
    format!("{{{}}}", keys.join(", "))
}

const SCORING_PROTOCOL_NOTE: &str = "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this error, you are likely using an outdated scoring request format. To resolve the error, either update your request format or adjust your MLflow Model's requirements file to specify an older version of MLflow (for example, change the 'mlflow' requirement specifier to 'mlflow==1.30.0'). If you are making a request using the MLflow client (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in order to use the new request format. For more information about the updated MLflow Model scoring protocol in MLflow 2.0, see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.";

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

/// Decode an MLflow JSON scoring request.
pub fn decode_json(bytes: &[u8], schema: &Schema) -> Result<Vec<Tensor>> {
    let body = schema.parse_json(bytes).map_err(|e| match e {
        json::ParseError::TooManyValues(n) => schema.budget_error(n),
        json::ParseError::Syntax(e) => {
            let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                .escape_debug()
                .collect();
            DecodeError::BadRequest(format!(
                "Invalid input. Ensure that input is a valid JSON formatted string. Error: '{e}'\nInput: \n{shown}\n"
            ))
        }
    })?;
    let mut fields = match body {
        J::Obj(fields) => fields,
        other => {
            let what = match other {
                J::Arr(_) => "a list",
                _ => "a scalar",
            };
            return Err(DecodeError::BadRequest(format!(
                "Invalid input. The input must be a JSON dictionary with exactly one of the input fields {}. Received {what}.",
                format_keys_message()
            )));
        }
    };
    let found: Vec<usize> = fields
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| FORMAT_KEYS.contains(&k.as_str()))
        .map(|(i, _)| i)
        .collect();
    let [i] = found.as_slice() else {
        let names: Vec<String> = found
            .iter()
            .map(|&i| format!("'{}'", fields[i].0))
            .collect();
        return Err(DecodeError::BadRequest(format!(
            "The input must be a JSON dictionary with exactly one of the input fields {}. Received dictionary with input fields: [{}]. {SCORING_PROTOCOL_NOTE}",
            format_keys_message(),
            names.join(", ")
        )));
    };
    // `params` is accepted and ignored: ONNX models take no inference parameters.
    let (key, value) = fields.swap_remove(*i);
    let tensors = match key.as_str() {
        "dataframe_split" => frame_to_tensors(&split_frame(value, schema)?, schema),
        "dataframe_records" => frame_to_tensors(&records_frame(value, schema)?, schema),
        _ => decode_instances(&value, schema),
    }?;
    schema.check_rows(&tensors)?;
    Ok(tensors)
}

/// Decode `inputs`/`instances` (MLflow's tensor formats, and KServe V1's body).
pub fn decode_instances(value: &J, schema: &Schema) -> Result<Vec<Tensor>> {
    let tensors = instances_to_tensors(value, schema)?;
    schema.check_rows(&tensors)?;
    Ok(tensors)
}

fn instances_to_tensors(value: &J, schema: &Schema) -> Result<Vec<Tensor>> {
    match value {
        J::Obj(fields) => named_inputs(fields, schema),
        J::Arr(rows) if !rows.is_empty() && rows.iter().all(|r| matches!(r, J::Obj(_))) => {
            named_rows(rows, schema)
        }
        J::Arr(_) => {
            if schema.inputs.len() != 1 {
                let names: Vec<String> = schema
                    .inputs
                    .iter()
                    .map(|s| format!("'{}'", s.name))
                    .collect();
                return Err(schema.schema_error(format!(
                    "Model is missing inputs [{}]. This model has several inputs: send a dictionary of named inputs, or a DataFrame with these columns.",
                    names.join(", ")
                )));
            }
            Ok(vec![array_tensor(value, 0, schema)?])
        }
        other => Err(DecodeError::BadRequest(format!(
            "Invalid input. Expected a list or a dictionary of named inputs, got {}.",
            other.type_name()
        ))),
    }
}

/// `{"name": nested list, ...}`: one entry per model input.
fn named_inputs(fields: &[(String, J)], schema: &Schema) -> Result<Vec<Tensor>> {
    if schema.inputs.len() == 1 && !fields.iter().any(|(k, _)| *k == schema.inputs[0].name) {
        return Err(DecodeError::BadRequest(format!(
            "Invalid input. Failed to parse input data. This model contains an un-named  model signature which expects a single n-dimensional array or a single value as input, however, an input of type <class 'dict'> was found. (Weir also accepts the ONNX input name as the key: '{}'.)",
            schema.inputs[0].name
        )));
    }
    let missing: Vec<String> = schema
        .inputs
        .iter()
        .filter(|s| !fields.iter().any(|(k, _)| *k == s.name))
        .map(|s| format!("'{}'", s.name))
        .collect();
    if !missing.is_empty() {
        return Err(
            schema.schema_error(format!("Model is missing inputs [{}].", missing.join(", ")))
        );
    }
    (0..schema.inputs.len())
        .map(|i| {
            let (name, ..) = schema.tensor_spec(i);
            let v = fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .unwrap_or(&J::Null);
            array_tensor(v, i, schema)
        })
        .collect()
}

/// `[{"a": 1, "b": [..]}, ...]`: TensorFlow-serving style rows of named inputs.
fn named_rows(rows: &[J], schema: &Schema) -> Result<Vec<Tensor>> {
    let all_known = rows.iter().all(|r| match r {
        J::Obj(f) => f.iter().all(|(k, _)| schema.input_index(k).is_some()),
        _ => false,
    });
    if !all_known {
        return Err(schema.schema_error(
            "This model contains a tensor-based model signature with no input names, which suggests a numpy array input or a pandas dataframe input with proper column values, but an input of type <class 'dict'> was found.",
        ));
    }
    (0..schema.inputs.len())
        .map(|i| {
            let name = &schema.inputs[i].name;
            let column: Vec<J> = rows
                .iter()
                .map(|r| r.get(name).cloned().unwrap_or(J::Null))
                .collect();
            array_tensor(&J::Arr(column), i, schema)
        })
        .collect()
}

/// The shape of a nested list and its leaves in row-major order.
fn flatten(v: &J) -> Result<(Vec<usize>, Vec<&J>)> {
    let mut shape = Vec::new();
    let mut probe = v;
    while let J::Arr(a) = probe {
        shape.push(a.len());
        match a.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    // The first elements only suggest the size: a ragged body must not make us reserve more.
    let expected = super::tensor::num_elements(&shape).unwrap_or(usize::MAX);
    let mut leaves = Vec::with_capacity(expected.min(1 << 16));
    fn walk<'a>(v: &'a J, depth: usize, shape: &[usize], out: &mut Vec<&'a J>) -> bool {
        if depth == shape.len() {
            if matches!(v, J::Arr(_) | J::Obj(_)) {
                return false;
            }
            out.push(v);
            return true;
        }
        match v {
            J::Arr(a) if a.len() == shape[depth] => {
                a.iter().all(|x| walk(x, depth + 1, shape, out))
            }
            _ => false,
        }
    }
    if !walk(v, 0, &shape, &mut leaves) || leaves.len() != expected {
        return Err(DecodeError::BadRequest(
            "Invalid input. The input must be a nested list of scalars with every row of the same length (found a ragged list or a dictionary inside it).".into(),
        ));
    }
    Ok((shape, leaves))
}

/// A nested list for model input `i`.
fn array_tensor(v: &J, i: usize, schema: &Schema) -> Result<Tensor> {
    let (_, dtype, expected) = schema.tensor_spec(i);
    let (shape, leaves) = flatten(v)?;
    let shape = fit_shape(&shape, expected, schema)?;
    Ok(Tensor::new(shape, cast(&leaves, dtype)?))
}

/// Check a decoded shape against the model's; a missing trailing `1` (a column for a `[-1, 1]`
/// input) is added. An empty batch is refused.
pub(crate) fn fit_shape(got: &[usize], expected: &[i64], schema: &Schema) -> Result<Vec<usize>> {
    let mismatch = || {
        schema.schema_error(format!(
            "Shape of input {} does not match expected shape {}.",
            py_tuple(got),
            py_tuple(expected)
        ))
    };
    if got.first() == Some(&0) || (got.is_empty() && !expected.is_empty()) {
        return Err(DecodeError::BadRequest(
            "Invalid input. The input is empty: send at least one row.".into(),
        ));
    }
    if expected.is_empty() {
        // Unknown rank: take the input as it is.
        return Ok(got.to_vec());
    }
    let mut shape = got.to_vec();
    if shape.len() + 1 == expected.len() && expected.last() == Some(&1) {
        shape.push(1);
    }
    if shape.len() != expected.len() {
        return Err(mismatch());
    }
    let fits = shape
        .iter()
        .zip(expected)
        .all(|(&g, &e)| e < 0 || g as i64 == e);
    if fits {
        Ok(shape)
    } else {
        Err(mismatch())
    }
}

/// Convert JSON scalars to the model's element type, as numpy's `astype` would (numeric strings
/// become numbers; `null` is NaN for floats).
pub fn cast(cells: &[&J], dtype: DType) -> Result<Data> {
    fn float(c: &J, to: &str) -> Result<f64> {
        match c {
            J::Float(f) => Ok(*f),
            J::Int(i) => Ok(*i as f64),
            J::UInt(u) => Ok(*u as f64),
            J::Bool(b) => Ok(f64::from(u8::from(*b))),
            J::Null => Ok(f64::NAN),
            J::Str(s) => s.trim().parse::<f64>().map_err(|_| {
                DecodeError::BadRequest(format!(
                    "Invalid input. could not convert string to {to}: {c}"
                ))
            }),
            other => Err(DecodeError::BadRequest(format!(
                "Invalid input. could not convert {} to {to}",
                other.type_name()
            ))),
        }
    }
    fn int<T: TryFrom<i64> + TryFrom<u64>>(c: &J, dtype: DType) -> Result<T> {
        let bad = || {
            DecodeError::BadRequest(format!(
                "Invalid input. could not convert {c} to {}",
                dtype.numpy_name()
            ))
        };
        let wide: i128 = match c {
            J::Int(i) => i128::from(*i),
            J::UInt(u) => i128::from(*u),
            J::Bool(b) => i128::from(u8::from(*b)),
            J::Float(f) if f.fract() == 0.0 && f.abs() < 1.0e19 => *f as i128,
            J::Str(s) => s.trim().parse::<i128>().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        if let Ok(i) = i64::try_from(wide) {
            T::try_from(i).map_err(|_| bad())
        } else {
            let u = u64::try_from(wide).map_err(|_| bad())?;
            T::try_from(u).map_err(|_| bad())
        }
    }
    fn boolean(c: &J) -> Result<bool> {
        match c {
            J::Bool(b) => Ok(*b),
            J::Int(0) => Ok(false),
            J::Int(1) => Ok(true),
            J::Str(s) => match s.trim() {
                "true" | "True" | "TRUE" | "1" => Ok(true),
                "false" | "False" | "FALSE" | "0" => Ok(false),
                _ => Err(DecodeError::BadRequest(format!(
                    "Invalid input. could not convert {c} to bool"
                ))),
            },
            _ => Err(DecodeError::BadRequest(format!(
                "Invalid input. could not convert {c} to bool"
            ))),
        }
    }
    fn string(c: &J) -> Result<String> {
        match c {
            J::Str(s) => Ok(s.clone()),
            J::Int(i) => Ok(i.to_string()),
            J::UInt(u) => Ok(u.to_string()),
            J::Float(f) => Ok(format!("{f:?}")),
            J::Bool(b) => Ok(if *b { "True" } else { "False" }.to_owned()),
            J::Null => Ok(String::new()),
            other => Err(DecodeError::BadRequest(format!(
                "Invalid input. could not convert {} to str",
                other.type_name()
            ))),
        }
    }
    macro_rules! ints {
        ($variant:ident, $t:ty) => {
            Data::$variant(
                cells
                    .iter()
                    .map(|c| int::<$t>(c, dtype))
                    .collect::<Result<_>>()?,
            )
        };
    }
    Ok(match dtype {
        DType::F32 => Data::F32(
            cells
                .iter()
                .map(|c| float(c, "float").map(|f| f as f32))
                .collect::<Result<_>>()?,
        ),
        DType::F64 => Data::F64(
            cells
                .iter()
                .map(|c| float(c, "float"))
                .collect::<Result<_>>()?,
        ),
        DType::I8 => ints!(I8, i8),
        DType::I16 => ints!(I16, i16),
        DType::I32 => ints!(I32, i32),
        DType::I64 => ints!(I64, i64),
        DType::U8 => ints!(U8, u8),
        DType::U16 => ints!(U16, u16),
        DType::U32 => ints!(U32, u32),
        DType::U64 => ints!(U64, u64),
        DType::Bool => Data::Bool(cells.iter().map(|c| boolean(c)).collect::<Result<_>>()?),
        DType::Str => Data::Str(cells.iter().map(|c| string(c)).collect::<Result<_>>()?),
    })
}

/// A pandas-like table: optional column names and rows of scalar cells.
#[derive(Debug, Default)]
pub struct Frame {
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Vec<J>>,
}

impl Frame {
    fn width(&self) -> usize {
        match &self.columns {
            Some(c) => c.len(),
            None => self.rows.first().map_or(0, Vec::len),
        }
    }
}

fn column_name(v: &J) -> String {
    match v {
        J::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `{"columns": [...], "index": [...], "data": [[...], ...]}` (pandas `orient="split"`).
fn split_frame(v: J, schema: &Schema) -> Result<Frame> {
    let bad = |what: &str| {
        DecodeError::BadRequest(format!(
            "Invalid input. dataframe_split must be a dictionary with a 'data' list of rows and optional 'columns' and 'index': {what}"
        ))
    };
    let J::Obj(fields) = v else {
        return Err(bad("got something else"));
    };
    let mut columns = None;
    let mut data = None;
    for (k, v) in fields {
        match (k.as_str(), v) {
            ("columns", J::Null) => {}
            ("columns", J::Arr(c)) => {
                if c.len() > MAX_COLUMNS {
                    return Err(bad("too many columns"));
                }
                columns = Some(c.iter().map(column_name).collect::<Vec<_>>());
            }
            ("columns", _) => return Err(bad("'columns' is not a list")),
            ("data", J::Arr(d)) => data = Some(d),
            _ => {}
        }
    }
    let data = data.ok_or_else(|| bad("'data' is missing or not a list"))?;
    if data.len() > schema.max_rows {
        return Err(schema.too_many(format!("{} rows", data.len())));
    }
    let rows: Vec<Vec<J>> = data
        .into_iter()
        .map(|r| match r {
            J::Arr(cells) => cells,
            scalar => vec![scalar],
        })
        .collect();
    let width = columns
        .as_ref()
        .map_or_else(|| rows.first().map_or(0, Vec::len), Vec::len);
    if rows.iter().any(|r| r.len() != width) {
        return Err(DecodeError::BadRequest(format!(
            "Invalid input. {width} columns passed, but some rows of 'data' have a different length."
        )));
    }
    Ok(Frame { columns, rows })
}

/// `[{"col": value, ...}, ...]` (pandas `orient="records"`): columns in order of first appearance.
fn records_frame(v: J, schema: &Schema) -> Result<Frame> {
    let not_records = || {
        DecodeError::BadRequest(
            "Invalid input. dataframe_records must be a list of dictionaries, one per row.".into(),
        )
    };
    let J::Arr(records) = v else {
        return Err(not_records());
    };
    if records.len() > schema.max_rows {
        return Err(schema.too_many(format!("{} rows", records.len())));
    }
    let mut columns: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    for r in &records {
        let J::Obj(fields) = r else {
            return Err(not_records());
        };
        for (k, _) in fields {
            if !index.contains_key(k) {
                if columns.len() >= MAX_COLUMNS {
                    return Err(DecodeError::BadRequest(format!(
                        "Invalid input. dataframe_records names more than {MAX_COLUMNS} columns."
                    )));
                }
                index.insert(k.clone(), columns.len());
                columns.push(k.clone());
            }
        }
    }
    let cells = records.len().saturating_mul(columns.len());
    let budget = schema.value_budget(usize::MAX);
    if cells > budget {
        return Err(schema.budget_error(budget));
    }
    let rows = records
        .into_iter()
        .map(|r| {
            let mut row = vec![J::Null; columns.len()];
            if let J::Obj(fields) = r {
                for (k, v) in fields {
                    if let Some(&i) = index.get(&k) {
                        row[i] = v;
                    }
                }
            }
            row
        })
        .collect();
    Ok(Frame {
        columns: Some(columns),
        rows,
    })
}

/// Parse CSV as `pandas.DataFrame.to_csv()` writes it. The first line is the header, unless every
/// field in it is a number (then there is no header); a leading unnamed column (the DataFrame
/// index) is dropped.
pub fn parse_csv(bytes: &[u8], schema: &Schema) -> Result<Frame> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        DecodeError::BadRequest(
            "Failed to parse input as a Pandas DataFrame. The CSV body is not UTF-8.".into(),
        )
    })?;
    let limits = CsvLimits {
        // One more for the header line.
        max_records: schema.max_rows.saturating_add(1),
        max_cells: schema.value_budget(bytes.len()),
    };
    let mut records = csv_records(text, &limits).map_err(|e| match e {
        CsvError::TooMany(what) => schema.too_many(what),
        CsvError::Syntax(e) => DecodeError::BadRequest(format!(
            "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: '{e}'"
        )),
    })?;
    if records.is_empty() {
        return Err(DecodeError::BadRequest(
            "Failed to parse input as a Pandas DataFrame. Error: 'No columns to parse from file'"
                .into(),
        ));
    }
    let has_header = !records[0]
        .iter()
        .all(|f| !f.trim().is_empty() && f.trim().parse::<f64>().is_ok());
    let mut columns = if has_header {
        Some(records.remove(0))
    } else {
        None
    };
    let width = columns
        .as_ref()
        .map_or_else(|| records.first().map_or(0, Vec::len), Vec::len);
    if let Some((i, r)) = records.iter().enumerate().find(|(_, r)| r.len() != width) {
        return Err(DecodeError::BadRequest(format!(
            "Failed to parse input as a Pandas DataFrame. Error: 'Expected {width} fields in line {}, saw {}'",
            i + 1 + usize::from(has_header),
            r.len()
        )));
    }
    let drop_index = columns
        .as_ref()
        .is_some_and(|c| c.first().is_some_and(|n| n.is_empty() || n == "Unnamed: 0"));
    if drop_index {
        if let Some(c) = columns.as_mut() {
            c.remove(0);
        }
        for r in &mut records {
            r.remove(0);
        }
    }
    let rows = records
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|f| if f.is_empty() { J::Null } else { J::Str(f) })
                .collect()
        })
        .collect();
    Ok(Frame { columns, rows })
}

/// Bounds on a CSV body's records.
struct CsvLimits {
    max_records: usize,
    max_cells: usize,
}

enum CsvError {
    Syntax(String),
    TooMany(String),
}

/// Split CSV text into records (RFC 4180 quoting; blank lines skipped), within `limits`.
fn csv_records(text: &str, limits: &CsvLimits) -> std::result::Result<Vec<Vec<String>>, CsvError> {
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut field_started = false;
    let mut cells = 0usize;
    let mut push_field = |record: &mut Vec<String>, field: String| {
        cells += 1;
        if cells > limits.max_cells || record.len() >= MAX_COLUMNS {
            return Err(CsvError::TooMany(format!(
                "more than {} values",
                limits.max_cells.min(cells)
            )));
        }
        record.push(field);
        Ok(())
    };
    let push_record = |records: &mut Vec<Vec<String>>, record: Vec<String>| {
        if records.len() >= limits.max_records {
            return Err(CsvError::TooMany(format!(
                "more than {} rows",
                limits.max_records.saturating_sub(1)
            )));
        }
        records.push(record);
        Ok(())
    };
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                field_started = true;
            }
            ',' => {
                push_field(&mut record, std::mem::take(&mut field))?;
                field_started = true;
            }
            '\r' => {}
            '\n' => {
                if field_started || !field.is_empty() || !record.is_empty() {
                    push_field(&mut record, std::mem::take(&mut field))?;
                    push_record(&mut records, std::mem::take(&mut record))?;
                }
                field_started = false;
            }
            _ => {
                field.push(c);
                field_started = true;
            }
        }
    }
    if quoted {
        return Err(CsvError::Syntax("EOF inside string".into()));
    }
    if field_started || !field.is_empty() || !record.is_empty() {
        push_field(&mut record, field)?;
        push_record(&mut records, record)?;
    }
    Ok(records)
}

/// Decode a CSV scoring request.
pub fn decode_csv(bytes: &[u8], schema: &Schema) -> Result<Vec<Tensor>> {
    let tensors = frame_to_tensors(&parse_csv(bytes, schema)?, schema)?;
    schema.check_rows(&tensors)?;
    Ok(tensors)
}

/// Turn a table into the model's inputs: for a single tensor input, the columns in order (or
/// matched by name to a column signature); for several inputs, one column per input, by name.
pub fn frame_to_tensors(frame: &Frame, schema: &Schema) -> Result<Vec<Tensor>> {
    if frame.rows.is_empty() {
        return Err(DecodeError::BadRequest(
            "Invalid input. The input is empty: send at least one row.".into(),
        ));
    }
    if frame
        .rows
        .iter()
        .flatten()
        .any(|c| matches!(c, J::Arr(_) | J::Obj(_)))
    {
        return Err(DecodeError::BadRequest(
            "Invalid input. DataFrame cells must be scalars; send tensors with 'inputs' instead."
                .into(),
        ));
    }
    let n = frame.rows.len();
    if schema.inputs.len() == 1 {
        let (_, dtype, expected) = schema.tensor_spec(0);
        // Which frame column feeds each tensor column.
        let order: Vec<usize> = match (&schema.columns, &frame.columns) {
            (Some(wanted), Some(have)) => {
                let missing: Vec<String> = wanted
                    .iter()
                    .filter(|w| !have.contains(w))
                    .map(|w| format!("'{w}'"))
                    .collect();
                if !missing.is_empty() {
                    return Err(schema.schema_error(format!(
                        "Model is missing inputs [{}].",
                        missing.join(", ")
                    )));
                }
                wanted
                    .iter()
                    .filter_map(|w| have.iter().position(|h| h == w))
                    .collect()
            }
            _ => (0..frame.width()).collect(),
        };
        let width = order.len();
        let wants = match expected {
            [_, w] if *w >= 0 => Some(*w as usize),
            [_] => Some(1),
            _ => None,
        };
        if wants.is_some_and(|w| w != width) {
            return Err(schema.schema_error(format!(
                "This model contains a model signature with an unnamed input. Since the input data is a pandas DataFrame containing multiple columns, the input shape must be of the structure (-1, number_of_dataframe_columns). Instead, the input DataFrame passed had {width} columns and an input shape of {} with all values within the DataFrame of scalar type. Please adjust the passed in DataFrame to match the expected structure",
                py_tuple(expected)
            )));
        }
        let cells: Vec<&J> = frame
            .rows
            .iter()
            .flat_map(|r| order.iter().filter_map(move |&c| r.get(c)))
            .collect();
        let got = if expected.len() == 1 {
            vec![n]
        } else {
            vec![n, width]
        };
        let shape = fit_shape(&got, expected, schema)?;
        return Ok(vec![Tensor::new(shape, cast(&cells, dtype)?)]);
    }
    let Some(columns) = &frame.columns else {
        let names: Vec<String> = schema
            .inputs
            .iter()
            .map(|s| format!("'{}'", s.name))
            .collect();
        return Err(schema.schema_error(format!(
            "Model is missing inputs [{}]: name the DataFrame's columns after the model's inputs.",
            names.join(", ")
        )));
    };
    let missing: Vec<String> = schema
        .inputs
        .iter()
        .filter(|s| !columns.contains(&s.name))
        .map(|s| format!("'{}'", s.name))
        .collect();
    if !missing.is_empty() {
        return Err(
            schema.schema_error(format!("Model is missing inputs [{}].", missing.join(", ")))
        );
    }
    (0..schema.inputs.len())
        .map(|i| {
            let (name, dtype, expected) = schema.tensor_spec(i);
            let c = columns.iter().position(|h| h == name).unwrap_or(0);
            let cells: Vec<&J> = frame.rows.iter().filter_map(|r| r.get(c)).collect();
            let shape = fit_shape(&[n], expected, schema)?;
            Ok(Tensor::new(shape, cast(&cells, dtype)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iris() -> Schema {
        Schema {
            inputs: vec![Spec::tensor("X", DType::F32, vec![-1, 4])],
            columns: None,
            ..Default::default()
        }
    }

    fn f32s(t: &Tensor) -> &[f32] {
        match &t.data {
            Data::F32(v) => v,
            other => panic!("not f32: {other:?}"),
        }
    }

    const ROWS: [f32; 8] = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];

    #[test]
    fn every_mlflow_json_format_gives_the_same_tensor() {
        let bodies = [
            r#"{"dataframe_split": {"columns": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#,
            r#"{"dataframe_split": {"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#,
            r#"{"dataframe_split": {"index": [10, 11], "columns": ["a", "b", "c", "d"], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#,
            r#"{"dataframe_records": [{"a": 5.1, "b": 3.5, "c": 1.4, "d": 0.2}, {"a": 6.7, "b": 3.0, "c": 5.2, "d": 2.3}]}"#,
            r#"{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}"#,
            r#"{"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}"#,
            r#"{"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], "params": {"foo": 1}}"#,
            r#"{"inputs": {"X": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#,
            r#"{"instances": [{"X": [5.1, 3.5, 1.4, 0.2]}, {"X": [6.7, 3.0, 5.2, 2.3]}]}"#,
            r#"{"inputs": [["5.1", "3.5", "1.4", "0.2"], [6.7, 3, 5.2, 2.3]]}"#,
        ];
        for b in bodies {
            let t = decode_json(b.as_bytes(), &iris()).unwrap_or_else(|e| panic!("{b}: {e:?}"));
            assert_eq!(t.len(), 1);
            assert_eq!(t[0].shape, vec![2, 4], "{b}");
            assert_eq!(f32s(&t[0]), &ROWS, "{b}");
        }
        let csvs = [
            "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n",
            "5.1,3.5,1.4,0.2\r\n6.7,3.0,5.2,2.3",
            ",a,b,c,d\n0,5.1,3.5,1.4,0.2\n1,6.7,3.0,5.2,2.3\n",
            "\"a\",\"b\",c,d\n\"5.1\",3.5,1.4,0.2\n\n6.7,3.0,5.2,2.3\n",
        ];
        for c in csvs {
            let t = decode_csv(c.as_bytes(), &iris()).unwrap_or_else(|e| panic!("{c}: {e:?}"));
            assert_eq!(t[0].shape, vec![2, 4], "{c}");
            assert_eq!(f32s(&t[0]), &ROWS, "{c}");
        }
    }

    #[test]
    fn records_keep_the_clients_column_order() {
        let t = decode_json(
            br#"{"dataframe_records": [{"d": 1, "c": 2, "b": 3, "a": 4}]}"#,
            &iris(),
        )
        .unwrap();
        assert_eq!(f32s(&t[0]), &[1.0, 2.0, 3.0, 4.0]);
        // With a column signature, columns are matched by name instead.
        let mut s = iris();
        s.columns = Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]);
        let t = decode_json(
            br#"{"dataframe_records": [{"d": 1, "c": 2, "b": 3, "a": 4, "extra": 9}]}"#,
            &s,
        )
        .unwrap();
        assert_eq!(f32s(&t[0]), &[4.0, 3.0, 2.0, 1.0]);
        let e =
            decode_json(br#"{"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}"#, &s).unwrap_err();
        assert!(
            matches!(&e, DecodeError::Schema(m) if m.contains("Model is missing inputs ['d']")),
            "{e:?}"
        );
    }

    #[test]
    fn errors_match_mlflow() {
        let s = iris();
        let cases: &[(&str, bool, &str)] = &[
            (
                r#"{"inputs": [[5.1, 3.5,"#,
                true,
                "Invalid input. Ensure that input is a valid JSON formatted string.",
            ),
            (
                "",
                true,
                "Invalid input. Ensure that input is a valid JSON formatted string.",
            ),
            (
                r#"{"foo": [[5.1, 3.5, 1.4, 0.2]]}"#,
                true,
                "Received dictionary with input fields: []. IMPORTANT",
            ),
            (
                r#"{"inputs": [[1,2,3,4]], "instances": [[1,2,3,4]]}"#,
                true,
                "Received dictionary with input fields: ['inputs', 'instances'].",
            ),
            ("[[5.1, 3.5, 1.4, 0.2]]", true, "Received a list."),
            (
                r#"{"inputs": [["a", "b", "c", "d"]]}"#,
                true,
                "Invalid input. could not convert string to float: 'a'",
            ),
            (
                r#"{"inputs": {"Y": [[5.1, 3.5, 1.4, 0.2]]}}"#,
                true,
                "un-named  model signature",
            ),
            (
                r#"{"inputs": [[5.1, 3.5, 1.4]]}"#,
                false,
                "Shape of input (1, 3) does not match expected shape (-1, 4).",
            ),
            (
                r#"{"inputs": [5.1, 3.5, 1.4, 0.2]}"#,
                false,
                "Shape of input (4,) does not match expected shape (-1, 4).",
            ),
            (
                r#"{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[5.1, 3.5, 1.4]]}}"#,
                false,
                "the input DataFrame passed had 3 columns and an input shape of (-1, 4)",
            ),
            (
                r#"{"dataframe_records": [{"a": 5.1, "b": 3.5, "c": 1.4}]}"#,
                false,
                "had 3 columns",
            ),
            (
                r#"{"instances": [{"a": 5.1, "b": 3.5, "c": 1.4, "d": 0.2}]}"#,
                false,
                "an input of type <class 'dict'> was found",
            ),
            (r#"{"inputs": [[1, 2], [3]]}"#, true, "ragged"),
            (r#"{"inputs": []}"#, true, "empty"),
            (r#"{"inputs": [[]]}"#, false, "Shape of input (1, 0)"),
            (r#"{"inputs": 5}"#, true, "Expected a list"),
            (r#"{"dataframe_split": {"data": []}}"#, true, "empty"),
            (
                r#"{"dataframe_split": [1]}"#,
                true,
                "dataframe_split must be a dictionary",
            ),
            (
                r#"{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}"#,
                true,
                "1 columns passed",
            ),
            (
                r#"{"dataframe_records": [1, 2]}"#,
                true,
                "list of dictionaries",
            ),
            (
                r#"{"dataframe_records": [{"a": [1, 2], "b": 1, "c": 1, "d": 1}]}"#,
                true,
                "cells must be scalars",
            ),
            (r#"{"inputs": [[{"a": 1}, 2, 3, 4]]}"#, true, "ragged"),
            ("7", true, "Received a scalar."),
        ];
        for (body, bad_request, text) in cases {
            let e = decode_json(body.as_bytes(), &s).unwrap_err();
            assert_eq!(
                matches!(e, DecodeError::BadRequest(_)),
                *bad_request,
                "{body}: {e:?}"
            );
            assert!(e.message().contains(text), "{body}: {e:?}");
        }
        for csv in [
            "a,b,c,d\nx,y,z,w\n",
            "a,b\n1,2\n",
            "a,b,c,d\n\"1,2,3,4\n",
            "a,b,c,d\n",
        ] {
            assert!(decode_csv(csv.as_bytes(), &s).is_err(), "{csv}");
        }
        assert!(decode_csv(&[0xff, 0xfe], &s).is_err());
        assert!(decode_csv(b"", &s).is_err());
    }

    #[test]
    fn ragged_bodies_cannot_make_us_reserve_memory() {
        // Long first rows at every level, then short ones: the shape guessed from the first
        // elements (3000 x 3000 x 3000) is far more than the body holds.
        let level3 = format!("[{}]", vec!["1"; 3000].join(","));
        let level2 = format!("[{level3},{}]", vec!["[1]"; 2999].join(","));
        let body = format!(
            "{{\"inputs\": [{level2},{}]}}",
            vec!["[[1]]"; 2999].join(",")
        );
        let e = decode_json(body.as_bytes(), &iris()).unwrap_err();
        assert!(e.message().contains("ragged"), "{e:?}");
    }

    #[test]
    fn casts_to_the_model_dtype() {
        let cell = |s: &str| json::parse(s.as_bytes()).unwrap();
        let vals: Vec<J> = ["1", "2.0", "\"3\"", "true"]
            .iter()
            .map(|s| cell(s))
            .collect();
        let refs: Vec<&J> = vals.iter().collect();
        assert_eq!(
            cast(&refs, DType::I64).unwrap(),
            Data::I64(vec![1, 2, 3, 1])
        );
        assert_eq!(
            cast(&refs, DType::F64).unwrap(),
            Data::F64(vec![1.0, 2.0, 3.0, 1.0])
        );
        assert_eq!(
            cast(&refs, DType::Str).unwrap(),
            Data::Str(vec!["1".into(), "2.0".into(), "3".into(), "True".into()])
        );
        assert!(cast(&[&J::Float(2.5)], DType::I32).is_err());
        assert!(cast(&[&J::Int(300)], DType::U8).is_err());
        assert!(cast(&[&J::Int(-1)], DType::U64).is_err());
        assert_eq!(
            cast(&[&J::UInt(u64::MAX)], DType::U64).unwrap(),
            Data::U64(vec![u64::MAX])
        );
        assert_eq!(
            cast(&[&J::Int(0), &J::Str("True".into())], DType::Bool).unwrap(),
            Data::Bool(vec![false, true])
        );
        assert!(cast(&[&J::Int(2)], DType::Bool).is_err());
        match cast(&[&J::Null], DType::F32).unwrap() {
            Data::F32(v) => assert!(v[0].is_nan()),
            other => panic!("{other:?}"),
        }
        assert!(cast(&[&J::Null], DType::I64).is_err());
    }

    #[test]
    fn several_inputs_are_matched_by_name() {
        let s = Schema {
            inputs: vec![
                Spec::tensor("age", DType::F32, vec![-1, 1]),
                Spec::tensor("city", DType::Str, vec![-1, 1]),
            ],
            columns: None,
            ..Default::default()
        };
        let bodies = [
            r#"{"dataframe_split": {"columns": ["city", "age"], "data": [["Paris", 30], ["Oslo", 40]]}}"#,
            r#"{"dataframe_records": [{"age": 30, "city": "Paris"}, {"city": "Oslo", "age": 40}]}"#,
            r#"{"inputs": {"age": [[30], [40]], "city": [["Paris"], ["Oslo"]]}}"#,
            r#"{"instances": [{"age": 30, "city": "Paris"}, {"age": 40, "city": "Oslo"}]}"#,
        ];
        for b in bodies {
            let t = decode_json(b.as_bytes(), &s).unwrap_or_else(|e| panic!("{b}: {e:?}"));
            assert_eq!(
                t[0],
                Tensor::new(vec![2, 1], Data::F32(vec![30.0, 40.0])),
                "{b}"
            );
            assert_eq!(
                t[1],
                Tensor::new(vec![2, 1], Data::Str(vec!["Paris".into(), "Oslo".into()])),
                "{b}"
            );
        }
        let t = decode_csv(b"city,age\nParis,30\nOslo,40\n", &s).unwrap();
        assert_eq!(t[0], Tensor::new(vec![2, 1], Data::F32(vec![30.0, 40.0])));
        for bad in [
            r#"{"inputs": [[30, "Paris"]]}"#,
            r#"{"dataframe_split": {"data": [[30, "Paris"]]}}"#,
            r#"{"dataframe_records": [{"age": 30}]}"#,
            r#"{"inputs": {"age": [[30]]}}"#,
        ] {
            let e = decode_json(bad.as_bytes(), &s).unwrap_err();
            assert!(matches!(e, DecodeError::Schema(_)), "{bad}: {e:?}");
            assert!(e.message().contains("missing inputs"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(py_tuple(&[-1i64, 4]), "(-1, 4)");
        assert_eq!(py_tuple(&[3usize]), "(3,)");
        assert_eq!(iris().describe(), "[Tensor('float32', (-1, 4))]");
        // A [-1] input takes a flat list; a [-1, 1] input takes a flat list too.
        let flat = Schema {
            inputs: vec![Spec::tensor("x", DType::F64, vec![-1, 1])],
            columns: None,
            ..Default::default()
        };
        let t = decode_json(br#"{"inputs": [1, 2, 3]}"#, &flat).unwrap();
        assert_eq!(t[0].shape, vec![3, 1]);
        let t = decode_json(br#"{"dataframe_split": {"data": [1, 2, 3]}}"#, &flat).unwrap();
        assert_eq!(t[0].shape, vec![3, 1]);
    }
}
