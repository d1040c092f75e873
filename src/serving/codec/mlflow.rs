//! MLflow's JSON scoring requests: exactly one of `dataframe_split`, `dataframe_records`,
//! `instances` or `inputs` (with optional `params`), into the model's input tensors.

use super::frame::{cast, fit_shape, frame_to_tensors, records_frame, split_frame};
use super::json::{self, J};
use super::{DecodeError, Result, Schema};
use crate::serving::tensor::Tensor;

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
    schema.require_inputs(|name| fields.iter().any(|(k, _)| k == name))?;
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
    let expected = crate::serving::tensor::num_elements(&shape).unwrap_or(usize::MAX);
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
