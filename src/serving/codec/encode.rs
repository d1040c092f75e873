//! Response encoding: model outputs into MLflow's `{"predictions": ...}`, KServe V1's
//! `{"predictions": [...]}` and the Open Inference Protocol's typed tensors. Pure functions.
//!
//! JSON is written directly (not through `serde_json::Value`, whose maps sort their keys), so
//! outputs appear in the model's order and floats print as MLflow prints them.

use super::binary;
use crate::serving::tensor::{write_f64, write_str, Data, MapKeys, Spec, Value};

/// MLflow's answer for an ONNX model: `{"predictions": {"<output>": <nested list>, ...}}`, every
/// output by name in the model's order (MLflow's onnx flavor returns a dict of outputs even for
/// one output). ZipMap outputs are a list of `{class: probability}` per row.
pub fn mlflow_predictions(specs: &[Spec], values: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + 32 * values.iter().map(Value::rows).sum::<usize>());
    out.extend_from_slice(b"{\"predictions\": {");
    for (i, (spec, v)) in specs.iter().zip(values).enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        write_str(&spec.name, &mut out);
        out.extend_from_slice(b": ");
        v.write_json(&mut out);
    }
    out.extend_from_slice(b"}}");
    out
}

/// MLflow's answer for a flavor whose pyfunc returns one array (sklearn, xgboost, lightgbm):
/// `{"predictions": <nested list>}`, as `predictions_to_json` writes a numpy array.
pub fn mlflow_array(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + 32 * value.rows());
    out.extend_from_slice(b"{\"predictions\": ");
    value.write_json(&mut out);
    out.push(b'}');
    out
}

/// KServe V1: `{"predictions": [row, ...]}`; with several outputs each row is
/// `{"<output>": value, ...}`.
pub fn kserve_v1_predictions(specs: &[Spec], values: &[Value]) -> Vec<u8> {
    let rows = values.iter().map(Value::rows).max().unwrap_or(0);
    let mut out = Vec::with_capacity(64 + 48 * rows);
    out.extend_from_slice(b"{\"predictions\": [");
    for r in 0..rows {
        if r > 0 {
            out.extend_from_slice(b", ");
        }
        match values {
            [only] => only.write_row_json(r, &mut out),
            _ => {
                out.push(b'{');
                for (i, (spec, v)) in specs.iter().zip(values).enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    write_str(&spec.name, &mut out);
                    out.extend_from_slice(b": ");
                    v.write_row_json(r, &mut out);
                }
                out.push(b'}');
            }
        }
    }
    out.extend_from_slice(b"]}");
    out
}

fn write_flat(data: &Data, out: &mut Vec<u8>) {
    out.push(b'[');
    for i in 0..data.len() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        data.write_json_at(i, out);
    }
    out.push(b']');
}

fn write_shape(shape: &[usize], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(d.to_string().as_bytes());
    }
    out.push(b']');
}

/// An Open Inference Protocol answer: JSON, followed by binary output data when some outputs
/// were asked for in binary (`json_len` is then the `Inference-Header-Content-Length`).
#[derive(Debug)]
pub struct V2Response {
    pub body: Vec<u8>,
    pub json_len: Option<usize>,
}

fn write_classes(keys: &MapKeys, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"classes\": ");
    write_class_list(keys, out);
}

/// A ZipMap's class labels as a JSON list (`[0, 1, 2]`, `["cat", "dog"]`): its V2 output's
/// `classes` parameter, over HTTP and gRPC alike.
pub fn write_class_list(keys: &MapKeys, out: &mut Vec<u8>) {
    out.push(b'[');
    for i in 0..keys.len() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        match keys {
            MapKeys::I64(k) => {
                out.extend_from_slice(k.get(i).map(i64::to_string).unwrap_or_default().as_bytes())
            }
            MapKeys::Str(k) => write_str(k.get(i).map(String::as_str).unwrap_or(""), out),
        }
    }
    out.push(b']');
}

/// An output's elements in the raw layout (binary data over HTTP, `raw_output_contents` over
/// gRPC): a tensor's own, a ZipMap's FP32 `[rows, classes]` probabilities.
pub fn encode_value_raw(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Tensor(t) => binary::encode_raw(&t.data, out),
        Value::ZipMap(z) => {
            out.reserve(4 * z.values.len());
            for x in &z.values {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
}

/// The Open Inference Protocol's response: typed, flat, row-major tensors. A ZipMap output is
/// sent as its FP32 probability matrix, with the class labels in `parameters.classes`. Outputs
/// for which `binary` says so carry `parameters.binary_data_size` instead of `data`, and their
/// bytes follow the JSON in output order (the binary tensor data extension).
pub fn kserve_v2_response(
    model_name: &str,
    version: &str,
    id: Option<&str>,
    specs: &[Spec],
    values: &[Value],
    wanted: Option<&[String]>,
    binary: &dyn Fn(&str) -> bool,
) -> V2Response {
    let mut out = Vec::with_capacity(256);
    let mut tail = Vec::new();
    out.extend_from_slice(b"{\"model_name\": ");
    write_str(model_name, &mut out);
    out.extend_from_slice(b", \"model_version\": ");
    write_str(version, &mut out);
    if let Some(id) = id {
        out.extend_from_slice(b", \"id\": ");
        write_str(id, &mut out);
    }
    out.extend_from_slice(b", \"outputs\": [");
    let mut first = true;
    let mut any_binary = false;
    for (spec, v) in specs.iter().zip(values) {
        if wanted.is_some_and(|w| !w.contains(&spec.name)) {
            continue;
        }
        if !first {
            out.extend_from_slice(b", ");
        }
        first = false;
        let raw = binary(&spec.name);
        any_binary |= raw;
        out.extend_from_slice(b"{\"name\": ");
        write_str(&spec.name, &mut out);
        match v {
            Value::Tensor(t) => {
                out.extend_from_slice(b", \"datatype\": ");
                write_str(t.dtype().kserve_name(), &mut out);
                out.extend_from_slice(b", \"shape\": ");
                write_shape(&t.shape, &mut out);
                if raw {
                    let before = tail.len();
                    encode_value_raw(v, &mut tail);
                    let size = tail.len() - before;
                    out.extend_from_slice(b", \"parameters\": {\"binary_data_size\": ");
                    out.extend_from_slice(size.to_string().as_bytes());
                    out.push(b'}');
                } else {
                    out.extend_from_slice(b", \"data\": ");
                    write_flat(&t.data, &mut out);
                }
            }
            Value::ZipMap(z) => {
                out.extend_from_slice(b", \"datatype\": \"FP32\", \"shape\": ");
                write_shape(&[z.rows(), z.keys.len()], &mut out);
                if raw {
                    let before = tail.len();
                    encode_value_raw(v, &mut tail);
                    let size = tail.len() - before;
                    out.extend_from_slice(b", \"parameters\": {");
                    write_classes(&z.keys, &mut out);
                    out.extend_from_slice(b", \"binary_data_size\": ");
                    out.extend_from_slice(size.to_string().as_bytes());
                    out.push(b'}');
                } else {
                    out.extend_from_slice(b", \"data\": [");
                    for (i, x) in z.values.iter().enumerate() {
                        if i > 0 {
                            out.extend_from_slice(b", ");
                        }
                        write_f64(f64::from(*x), &mut out);
                    }
                    out.extend_from_slice(b"], \"parameters\": {");
                    write_classes(&z.keys, &mut out);
                    out.push(b'}');
                }
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    if !any_binary {
        return V2Response {
            body: out,
            json_len: None,
        };
    }
    let json_len = out.len();
    out.extend_from_slice(&tail);
    V2Response {
        body: out,
        json_len: Some(json_len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::tensor::{DType, Tensor, ZipMap};

    fn iris_out() -> (Vec<Spec>, Vec<Value>) {
        (
            vec![
                Spec::tensor("label", DType::I64, vec![-1]),
                Spec::tensor("probabilities", DType::F32, vec![-1, 3]),
            ],
            vec![
                Value::Tensor(Tensor::new(vec![2], Data::I64(vec![0, 2]))),
                Value::Tensor(Tensor::new(
                    vec![2, 3],
                    Data::F32(vec![
                        1.000_000_1,
                        0.0,
                        0.0,
                        0.0,
                        0.05,
                        0.950_000_166_893_005_4_f64 as f32,
                    ]),
                )),
            ],
        )
    }

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn one_array_flavors_answer_a_bare_list() {
        let (_, values) = iris_out();
        assert_eq!(s(mlflow_array(&values[0])), r#"{"predictions": [0, 2]}"#);
        let labels = Value::Tensor(Tensor::new(
            vec![2],
            Data::Str(vec!["yes".into(), "no".into()]),
        ));
        assert_eq!(
            s(mlflow_array(&labels)),
            r#"{"predictions": ["yes", "no"]}"#
        );
    }

    #[test]
    fn mlflow_shape_is_byte_identical_to_the_capture() {
        let (specs, values) = iris_out();
        assert_eq!(
            s(mlflow_predictions(&specs, &values)),
            r#"{"predictions": {"label": [0, 2], "probabilities": [[1.0000001192092896, 0.0, 0.0], [0.0, 0.05000000074505806, 0.9500001668930054]]}}"#
        );
    }

    #[test]
    fn outputs_keep_model_order_and_zipmaps_are_dicts() {
        let specs = vec![
            Spec::tensor("z_label", DType::Str, vec![-1]),
            Spec {
                name: "a_prob".into(),
                kind: crate::serving::tensor::Kind::ZipMap { string_keys: true },
            },
        ];
        let values = vec![
            Value::Tensor(Tensor::new(vec![1], Data::Str(vec!["cat".into()]))),
            Value::ZipMap(ZipMap {
                keys: MapKeys::Str(vec!["cat".into(), "dog".into()]),
                values: vec![0.75, 0.25],
            }),
        ];
        assert_eq!(
            s(mlflow_predictions(&specs, &values)),
            r#"{"predictions": {"z_label": ["cat"], "a_prob": [{"cat": 0.75, "dog": 0.25}]}}"#
        );
        assert_eq!(
            s(kserve_v1_predictions(&specs, &values)),
            r#"{"predictions": [{"z_label": "cat", "a_prob": {"cat": 0.75, "dog": 0.25}}]}"#
        );
        let v2: serde_json::Value = serde_json::from_slice(
            &kserve_v2_response(
                "m",
                "1",
                None,
                &specs,
                &values,
                Some(&["a_prob".to_owned()]),
                &|_| false,
            )
            .body,
        )
        .unwrap();
        assert_eq!(
            v2,
            serde_json::json!({"model_name": "m", "model_version": "1", "outputs": [
                {"name": "a_prob", "datatype": "FP32", "shape": [1, 2], "data": [0.75, 0.25],
                 "parameters": {"classes": ["cat", "dog"]}}]})
        );
    }

    #[test]
    fn kserve_shapes() {
        let (specs, values) = iris_out();
        let v1: serde_json::Value =
            serde_json::from_slice(&kserve_v1_predictions(&specs[..1], &values[..1])).unwrap();
        assert_eq!(v1, serde_json::json!({"predictions": [0, 2]}));
        let v2: serde_json::Value = serde_json::from_slice(
            &kserve_v2_response("iris", "3", Some("req-1"), &specs, &values, None, &|_| {
                false
            })
            .body,
        )
        .unwrap();
        assert_eq!(v2["model_name"], "iris");
        assert_eq!(v2["model_version"], "3");
        assert_eq!(v2["id"], "req-1");
        assert_eq!(
            v2["outputs"][0],
            serde_json::json!({"name": "label", "datatype": "INT64", "shape": [2], "data": [0, 2]})
        );
        assert_eq!(v2["outputs"][1]["datatype"], "FP32");
        assert_eq!(v2["outputs"][1]["shape"], serde_json::json!([2, 3]));
        assert_eq!(v2["outputs"][1]["data"].as_array().unwrap().len(), 6);
    }

    #[test]
    fn binary_outputs_follow_the_json() {
        let (specs, values) = iris_out();
        let r = kserve_v2_response("iris", "3", None, &specs, &values, None, &|n| {
            n == "probabilities"
        });
        let n = r.json_len.unwrap();
        let head: serde_json::Value = serde_json::from_slice(&r.body[..n]).unwrap();
        assert_eq!(head["outputs"][0]["data"], serde_json::json!([0, 2]));
        assert_eq!(
            head["outputs"][1],
            serde_json::json!({"name": "probabilities", "datatype": "FP32", "shape": [2, 3],
                               "parameters": {"binary_data_size": 24}})
        );
        let probs: Vec<f32> = r.body[n..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let Value::Tensor(t) = &values[1] else {
            unreachable!()
        };
        assert_eq!(Data::F32(probs), t.data);
        let plain = kserve_v2_response("iris", "3", None, &specs, &values, None, &|_| false);
        assert_eq!(plain.json_len, None);
    }
}
