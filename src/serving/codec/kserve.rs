//! KServe V2 (Open Inference Protocol) request decoding. Pure; V1 bodies go through
//! [`decode_instances`](super::decode_instances).

use super::frame::{cast, fit_shape};
use super::json::{self, J};
use super::{DecodeError, Schema};
use crate::serving::tensor::{DType, Tensor};

/// A decoded `POST /v2/models/<name>/infer` body.
#[derive(Debug)]
pub struct InferRequest {
    pub id: Option<String>,
    /// Inputs in the model's order.
    pub inputs: Vec<Tensor>,
    /// The outputs the client asked for (all when `None`).
    pub outputs: Option<Vec<String>>,
}

fn bad(msg: impl Into<String>) -> DecodeError {
    DecodeError::BadRequest(msg.into())
}

fn leaves<'a>(v: &'a J, out: &mut Vec<&'a J>) {
    match v {
        J::Arr(a) => a.iter().for_each(|x| leaves(x, out)),
        other => out.push(other),
    }
}

/// Decode an inference request against the model's inputs. Inputs are matched by name; a model
/// with one input takes a single tensor whatever its name. Data may be flat or nested (row-major);
/// numbers are cast to the model's type.
pub fn decode_infer(body: &[u8], schema: &Schema) -> Result<InferRequest, DecodeError> {
    let req = schema.parse_json(body).map_err(|e| match e {
        json::ParseError::TooManyValues(n) => DecodeError::BadRequest(format!(
            "the request holds more than {n} values; at most {} rows are accepted per request (--max-rows)",
            schema.max_rows
        )),
        json::ParseError::Syntax(e) => bad(format!("invalid JSON: {e}")),
    })?;
    if !matches!(req, J::Obj(_)) {
        return Err(bad(
            "the request must be a JSON object with an 'inputs' list",
        ));
    }
    let id = match req.get("id") {
        None | Some(J::Null) => None,
        Some(J::Str(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let outputs = match req.get("outputs") {
        None | Some(J::Null) => None,
        Some(J::Arr(list)) => Some(
            list.iter()
                .map(|o| {
                    o.get("name")
                        .and_then(J::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| bad("each requested output needs a 'name'"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(bad("'outputs' must be a list")),
    };
    let Some(J::Arr(given)) = req.get("inputs") else {
        return Err(bad("the request needs an 'inputs' list"));
    };
    let mut inputs = Vec::with_capacity(schema.inputs.len());
    for spec in &schema.inputs {
        let found = if schema.inputs.len() == 1 && given.len() == 1 {
            given.first()
        } else {
            given
                .iter()
                .find(|g| g.get("name").and_then(J::as_str) == Some(spec.name.as_str()))
        };
        let Some(t) = found else {
            return Err(DecodeError::Schema(format!(
                "missing input '{}' (the model's inputs: {})",
                spec.name,
                schema
                    .inputs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let shape: Vec<usize> = match t.get("shape") {
            Some(J::Arr(dims)) => dims
                .iter()
                .map(|d| d.as_i64().and_then(|n| usize::try_from(n).ok()))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("input '{}': bad 'shape'", spec.name)))?,
            _ => return Err(bad(format!("input '{}' needs a 'shape'", spec.name))),
        };
        if let Some(dt) = t.get("datatype").and_then(J::as_str) {
            if DType::from_kserve(dt).is_none() {
                return Err(bad(format!(
                    "input '{}': unsupported datatype '{dt}'",
                    spec.name
                )));
            }
        }
        let Some(data) = t.get("data") else {
            return Err(bad(format!(
                "input '{}' needs 'data' (the binary extension is not supported)",
                spec.name
            )));
        };
        if shape.first().is_some_and(|&n| n > schema.max_rows) {
            return Err(bad(format!(
                "input '{}' has {} rows; at most {} are accepted per request (--max-rows)",
                spec.name, shape[0], schema.max_rows
            )));
        }
        let expected = crate::serving::tensor::num_elements(&shape)
            .ok_or_else(|| bad(format!("input '{}': the shape is too large", spec.name)))?;
        let mut cells = Vec::new();
        leaves(data, &mut cells);
        if cells.len() != expected {
            return Err(bad(format!(
                "input '{}': shape {:?} holds {expected} elements but 'data' has {}",
                spec.name,
                shape,
                cells.len()
            )));
        }
        let (dtype, model_shape) = match &spec.kind {
            crate::serving::tensor::Kind::Tensor { dtype, shape } => (*dtype, shape.as_slice()),
            crate::serving::tensor::Kind::ZipMap { .. } => (DType::F32, &[][..]),
        };
        let shape = fit_shape(&shape, model_shape, schema)?;
        inputs.push(Tensor::new(shape, cast(&cells, dtype)?));
    }
    Ok(InferRequest {
        id,
        inputs,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::tensor::{Data, Spec};

    fn iris() -> Schema {
        Schema {
            inputs: vec![Spec::tensor("X", DType::F32, vec![-1, 4])],
            columns: None,
            ..Default::default()
        }
    }

    #[test]
    fn decodes_flat_and_nested_data() {
        for body in [
            r#"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}"#,
            r#"{"id": "r1", "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [[5.1, 3.5, 1.4, 0.2]]}], "outputs": [{"name": "label"}]}"#,
        ] {
            let r = decode_infer(body.as_bytes(), &iris()).unwrap();
            assert_eq!(
                r.inputs,
                vec![Tensor::new(vec![1, 4], Data::F32(vec![5.1, 3.5, 1.4, 0.2]))]
            );
        }
        let r = decode_infer(
            br#"{"id": "r1", "inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], "outputs": [{"name": "label"}]}"#,
            &iris(),
        )
        .unwrap();
        assert_eq!(r.id.as_deref(), Some("r1"));
        assert_eq!(r.outputs, Some(vec!["label".to_owned()]));
    }

    #[test]
    fn refuses_bad_requests() {
        for (body, text) in [
            ("{", "invalid JSON"),
            ("[]", "JSON object"),
            (r#"{"inputs": {}}"#, "'inputs' list"),
            (
                r#"{"inputs": [{"name": "X", "datatype": "FP32", "data": [1]}]}"#,
                "needs a 'shape'",
            ),
            (
                r#"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2]}]}"#,
                "holds 4 elements",
            ),
            (
                r#"{"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}"#,
                "does not match expected shape",
            ),
            (
                r#"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP8", "data": [1, 2, 3, 4]}]}"#,
                "unsupported datatype",
            ),
            (
                r#"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]}"#,
                "could not convert string to float",
            ),
            (
                r#"{"inputs": [{"name": "X", "shape": [-1, 4], "data": [1, 2, 3, 4]}]}"#,
                "bad 'shape'",
            ),
            (
                r#"{"inputs": [{"name": "X", "shape": [1, 4]}]}"#,
                "needs 'data'",
            ),
            (r#"{"inputs": []}"#, "missing input 'X'"),
            (
                r#"{"inputs": [{"name": "X", "shape": [1, 4], "data": [1, 2, 3, 4]}], "outputs": [{}]}"#,
                "needs a 'name'",
            ),
        ] {
            let e = decode_infer(body.as_bytes(), &iris()).unwrap_err();
            assert!(e.message().contains(text), "{body}: {e:?}");
        }
    }
}
