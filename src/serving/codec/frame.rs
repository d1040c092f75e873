//! pandas-like tables (from `dataframe_split`, `dataframe_records` or CSV) and their turn into
//! tensors: columns matched by name or position, shapes checked, cells cast as numpy would.

use super::json::J;
use super::{py_tuple, DecodeError, Result, Schema, MAX_COLUMNS};
use crate::serving::tensor::{DType, Data, Tensor};

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
pub(super) fn split_frame(v: J, schema: &Schema) -> Result<Frame> {
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
pub(super) fn records_frame(v: J, schema: &Schema) -> Result<Frame> {
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
    schema.require_inputs(|name| columns.iter().any(|c| c == name))?;
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
