//! KServe V2 (Open Inference Protocol) request decoding. Pure; V1 bodies go through
//! [`decode_instances`](super::decode_instances).

use super::binary;
use super::frame::{cast, fit_shape};
use super::json::{self, J};
use super::{DecodeError, Schema};
use crate::serving::tensor::{DType, Data, Tensor};

/// A decoded `POST /v2/models/<name>/infer` body.
#[derive(Debug)]
pub struct InferRequest {
    pub id: Option<String>,
    /// Inputs in the model's order.
    pub inputs: Vec<Tensor>,
    /// The outputs the client asked for (all when `None`).
    pub outputs: Option<Vec<String>>,
    /// Which outputs to answer as binary data rather than JSON.
    pub binary: BinaryOutputs,
}

/// The binary extension's output choice: `parameters.binary_data_output` on the request, and
/// `parameters.binary_data` on a requested output, which wins.
#[derive(Debug, Default, Clone)]
pub struct BinaryOutputs {
    pub all: bool,
    pub per_output: Vec<(String, bool)>,
}

impl BinaryOutputs {
    pub fn is_binary(&self, name: &str) -> bool {
        self.per_output
            .iter()
            .find(|(n, _)| n == name)
            .map_or(self.all, |(_, b)| *b)
    }
}

/// One input as the client sent it, before it is matched to the model: the wire forms of
/// HTTP JSON, HTTP binary and gRPC meet here.
#[derive(Debug)]
pub struct WireInput<'a> {
    pub name: &'a str,
    /// The client's datatype (`FP32`, `BYTES`...), when it gave one.
    pub datatype: Option<&'a str>,
    pub shape: Vec<i64>,
    pub content: Content<'a>,
}

/// Where an input's elements are.
#[derive(Debug)]
pub enum Content<'a> {
    /// JSON `data`, flat or nested row-major.
    Json(&'a J),
    /// Raw little-endian bytes in the input's datatype (HTTP binary data, gRPC raw contents).
    Raw(&'a [u8]),
    /// Typed elements (gRPC's typed contents).
    Typed(Data),
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

/// Match the client's inputs to the model's, by name (a model with one input takes a single
/// tensor whatever its name), check shapes and sizes, and cast elements to the model's types.
pub fn model_inputs(
    given: Vec<WireInput<'_>>,
    schema: &Schema,
) -> Result<Vec<Tensor>, DecodeError> {
    let mut given: Vec<Option<WireInput<'_>>> = given.into_iter().map(Some).collect();
    let mut inputs = Vec::with_capacity(schema.inputs.len());
    for spec in &schema.inputs {
        let found = if schema.inputs.len() == 1 && given.len() == 1 {
            given.first_mut().and_then(Option::take)
        } else {
            given
                .iter_mut()
                .find(|g| g.as_ref().is_some_and(|g| g.name == spec.name))
                .and_then(Option::take)
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
        let what = format!("input '{}'", spec.name);
        let shape: Vec<usize> = t
            .shape
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<_>>()
            .ok_or_else(|| bad(format!("{what}: bad 'shape' {:?}", t.shape)))?;
        let sent_dtype = match t.datatype {
            Some(dt) => Some(
                DType::from_kserve(dt)
                    .ok_or_else(|| bad(format!("{what}: unsupported datatype '{dt}'")))?,
            ),
            None => None,
        };
        if shape.first().is_some_and(|&n| n > schema.max_rows) {
            return Err(bad(format!(
                "{what} has {} rows; at most {} are accepted per request (--max-rows)",
                shape[0], schema.max_rows
            )));
        }
        let expected = crate::serving::tensor::num_elements(&shape)
            .ok_or_else(|| bad(format!("{what}: the shape is too large")))?;
        let (dtype, model_shape) = match &spec.kind {
            crate::serving::tensor::Kind::Tensor { dtype, shape } => (*dtype, shape.as_slice()),
            crate::serving::tensor::Kind::ZipMap { .. } => (DType::F32, &[][..]),
        };
        let count_mismatch = |n: usize| {
            bad(format!(
                "{what}: shape {shape:?} holds {expected} elements but 'data' has {n}"
            ))
        };
        let data = match t.content {
            Content::Json(data) => {
                let mut cells = Vec::new();
                leaves(data, &mut cells);
                if cells.len() != expected {
                    return Err(count_mismatch(cells.len()));
                }
                cast(&cells, dtype)?
            }
            Content::Raw(bytes) => {
                let sent = sent_dtype
                    .ok_or_else(|| bad(format!("{what}: binary data needs a 'datatype'")))?;
                binary::convert(binary::decode_raw(&what, sent, expected, bytes)?, dtype)?
            }
            Content::Typed(data) => {
                if data.len() != expected {
                    return Err(count_mismatch(data.len()));
                }
                binary::convert(data, dtype)?
            }
        };
        let shape = fit_shape(&shape, model_shape, schema)?;
        inputs.push(Tensor::new(shape, data));
    }
    Ok(inputs)
}

/// A JSON boolean parameter (`parameters.<key>`), absent = `None`.
fn bool_param(o: &J, key: &str) -> Result<Option<bool>, DecodeError> {
    match o.get("parameters").and_then(|p| p.get(key)) {
        None | Some(J::Null) => Ok(None),
        Some(J::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(format!("parameter '{key}' must be true or false"))),
    }
}

/// Decode an inference request without binary data: the whole body is JSON.
pub fn decode_infer(body: &[u8], schema: &Schema) -> Result<InferRequest, DecodeError> {
    decode_infer_with(body, None, schema)
}

/// Decode an inference request against the model's inputs. With `header_len` (the
/// `Inference-Header-Content-Length` header) the body is that many bytes of JSON followed by the
/// inputs' binary data, in the order of the `inputs` list, each `parameters.binary_data_size`
/// bytes long. Numbers are cast to the model's types.
pub fn decode_infer_with(
    body: &[u8],
    header_len: Option<usize>,
    schema: &Schema,
) -> Result<InferRequest, DecodeError> {
    let (json_part, mut binary) = match header_len {
        None => (body, &[][..]),
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => {
            return Err(bad(format!(
                "Inference-Header-Content-Length is {n} but the body has only {} bytes",
                body.len()
            )))
        }
    };
    let req = schema.parse_json(json_part).map_err(|e| match e {
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
    let mut out_binary = BinaryOutputs {
        all: bool_param(&req, "binary_data_output")?.unwrap_or(false),
        per_output: Vec::new(),
    };
    let outputs = match req.get("outputs") {
        None | Some(J::Null) => None,
        Some(J::Arr(list)) => {
            let mut names = Vec::with_capacity(list.len());
            for o in list {
                let name = o
                    .get("name")
                    .and_then(J::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| bad("each requested output needs a 'name'"))?;
                if let Some(b) = bool_param(o, "binary_data")? {
                    out_binary.per_output.push((name.clone(), b));
                }
                names.push(name);
            }
            Some(names)
        }
        Some(_) => return Err(bad("'outputs' must be a list")),
    };
    let Some(J::Arr(list)) = req.get("inputs") else {
        return Err(bad("the request needs an 'inputs' list"));
    };
    let mut given = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let name = t.get("name").and_then(J::as_str).unwrap_or("");
        let label = if name.is_empty() {
            format!("input {i}")
        } else {
            format!("input '{name}'")
        };
        let shape: Vec<i64> = match t.get("shape") {
            Some(J::Arr(dims)) => dims
                .iter()
                .map(J::as_i64)
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("{label}: bad 'shape'")))?,
            _ => return Err(bad(format!("{label} needs a 'shape'"))),
        };
        let binary_size = match t.get("parameters").and_then(|p| p.get("binary_data_size")) {
            None | Some(J::Null) => None,
            Some(n) => Some(
                n.as_i64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| bad(format!("{label}: bad 'binary_data_size'")))?,
            ),
        };
        let content = match (binary_size, t.get("data")) {
            (Some(_), Some(_)) => {
                return Err(bad(format!(
                    "{label} has both 'data' and 'binary_data_size'"
                )))
            }
            (Some(_), None) if header_len.is_none() => {
                return Err(bad(format!(
                    "{label} has 'binary_data_size' but the request has no Inference-Header-Content-Length header"
                )))
            }
            (Some(n), None) => {
                if n > binary.len() {
                    return Err(bad(format!(
                        "{label}: 'binary_data_size' is {n} but only {} bytes of binary data remain",
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(n);
                binary = rest;
                Content::Raw(mine)
            }
            (None, Some(data)) => Content::Json(data),
            (None, None) => {
                return Err(bad(format!(
                    "{label} needs 'data' or a 'binary_data_size' parameter"
                )))
            }
        };
        given.push(WireInput {
            name,
            datatype: t.get("datatype").and_then(J::as_str),
            shape,
            content,
        });
    }
    if !binary.is_empty() {
        return Err(bad(format!(
            "{} bytes of binary data follow the inputs' binary_data_size",
            binary.len()
        )));
    }
    Ok(InferRequest {
        id,
        inputs: model_inputs(given, schema)?,
        outputs,
        binary: out_binary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::tensor::Spec;

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
                "needs 'data' or a 'binary_data_size'",
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

    /// The binary extension as tritonclient sends it: JSON, then each input's raw bytes.
    fn binary_body(inputs: &[(&str, &str, Vec<i64>, Vec<u8>)], params: &str) -> (Vec<u8>, usize) {
        let specs: Vec<String> = inputs
            .iter()
            .map(|(name, dt, shape, raw)| {
                format!(
                    r#"{{"name": "{name}", "datatype": "{dt}", "shape": {shape:?}, "parameters": {{"binary_data_size": {}}}}}"#,
                    raw.len()
                )
            })
            .collect();
        let mut body = format!(r#"{{"inputs": [{}]{params}}}"#, specs.join(", ")).into_bytes();
        let n = body.len();
        for (_, _, _, raw) in inputs {
            body.extend_from_slice(raw);
        }
        (body, n)
    }

    #[test]
    fn decodes_binary_data_in_any_datatype() {
        let f64s: Vec<u8> = [5.1f64, 3.5, 1.4, 0.2]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let (body, n) = binary_body(
            &[("X", "FP64", vec![1, 4], f64s)],
            r#", "parameters": {"binary_data_output": true}, "outputs": [{"name": "label", "parameters": {"binary_data": false}}]"#,
        );
        let r = decode_infer_with(&body, Some(n), &iris()).unwrap();
        assert_eq!(
            r.inputs,
            vec![Tensor::new(vec![1, 4], Data::F32(vec![5.1, 3.5, 1.4, 0.2]))]
        );
        assert!(r.binary.all);
        assert!(!r.binary.is_binary("label"));
        assert!(r.binary.is_binary("probabilities"));

        // Two inputs, given in another order than the model's, mixing binary and JSON.
        let schema = Schema {
            inputs: vec![
                Spec::tensor("a", DType::I64, vec![-1, 1]),
                Spec::tensor("s", DType::Str, vec![-1, 1]),
            ],
            columns: None,
            ..Default::default()
        };
        let strs = [3u8, 0, 0, 0, b'x', b'y', b'z', 0, 0, 0, 0].to_vec();
        let (body, n) = binary_body(&[("s", "BYTES", vec![2, 1], strs)], "");
        let mut body = body;
        // Splice a JSON input in before the binary section.
        let json = String::from_utf8(body[..n].to_vec()).unwrap().replacen(
            r#"{"inputs": ["#,
            r#"{"inputs": [{"name": "a", "datatype": "INT32", "shape": [2, 1], "data": [7, 8]}, "#,
            1,
        );
        let tail = body.split_off(n);
        let mut spliced = json.clone().into_bytes();
        spliced.extend_from_slice(&tail);
        let r = decode_infer_with(&spliced, Some(json.len()), &schema).unwrap();
        assert_eq!(r.inputs[0], Tensor::new(vec![2, 1], Data::I64(vec![7, 8])));
        assert_eq!(
            r.inputs[1],
            Tensor::new(vec![2, 1], Data::Str(vec!["xyz".into(), String::new()]))
        );
    }

    #[test]
    fn refuses_bad_binary_requests() {
        let four = vec![0u8; 16];
        let (body, n) = binary_body(&[("X", "FP32", vec![1, 4], four.clone())], "");
        for (body, header, text) in [
            (body.clone(), Some(body.len() + 1), "has only"),
            (body.clone(), None, "invalid JSON"),
            (body[..body.len() - 1].to_vec(), Some(n), "only 15 bytes"),
            (
                [&body[..], &[0u8][..]].concat(),
                Some(n),
                "1 bytes of binary data follow",
            ),
            (
                binary_body(&[("X", "FP32", vec![1, 4], vec![0; 12])], "").0,
                Some(n),
                "take 16 bytes",
            ),
        ] {
            let e = decode_infer_with(&body, header, &iris()).unwrap_err();
            assert!(e.message().contains(text), "{text}: {e:?}");
        }
        let no_header = br#"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}"#;
        let e = decode_infer(no_header, &iris()).unwrap_err();
        assert!(
            e.message().contains("no Inference-Header-Content-Length"),
            "{e:?}"
        );
        let no_dtype = br#"{"inputs": [{"name": "X", "shape": [1, 4], "parameters": {"binary_data_size": 16}}]}"#;
        let mut b = no_dtype.to_vec();
        b.extend_from_slice(&four);
        let e = decode_infer_with(&b, Some(no_dtype.len()), &iris()).unwrap_err();
        assert!(e.message().contains("needs a 'datatype'"), "{e:?}");
    }
}
