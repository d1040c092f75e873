//! Every bundled model × every input format × both backends gives what Python onnxruntime and
//! `mlflow models serve` give (`models/<name>/expected.json`, written by models/make_models.py).
//!
//! ONNX Runtime (Rust) and onnxruntime (Python) are the same library, so their answers must be
//! identical to the byte; tract is compared with a small tolerance. tract does not implement
//! Scaler or TreeEnsembleRegressor, so `diabetes-rf-regressor` is ONNX Runtime only, and tract
//! must refuse it clearly.

mod common;

use common::serving::*;
use serde_json::{json, Value};
use weir::config::BackendChoice;

/// Every way the MLflow scoring protocol (and KServe) can carry the same rows.
fn bodies(exp: &Value) -> Vec<(&'static str, &'static str, String)> {
    let rows = exp["rows"].as_array().unwrap();
    let columns: Vec<String> = exp["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let input = exp["input_name"].as_str().unwrap();
    // Written by hand: serde_json's maps would sort the columns, and order matters.
    let records: Vec<String> = rows
        .iter()
        .map(|r| {
            let fields: Vec<String> = columns
                .iter()
                .zip(r.as_array().unwrap())
                .map(|(c, v)| format!("{}: {v}", Value::String(c.clone())))
                .collect();
            format!("{{{}}}", fields.join(", "))
        })
        .collect();
    let csv_rows: Vec<String> = rows
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    vec![
        ("json", "inputs", json!({"inputs": rows}).to_string()),
        ("json", "instances", json!({"instances": rows}).to_string()),
        ("json", "inputs+params", json!({"inputs": rows, "params": {"x": 1}}).to_string()),
        ("json", "inputs named", json!({"inputs": {input: rows}}).to_string()),
        (
            "json",
            "dataframe_split",
            json!({"dataframe_split": {"columns": columns, "data": rows}}).to_string(),
        ),
        (
            "json",
            "dataframe_split no columns",
            json!({"dataframe_split": {"data": rows}}).to_string(),
        ),
        (
            "json",
            "dataframe_split index",
            json!({"dataframe_split": {"index": (0..rows.len()).collect::<Vec<_>>(), "columns": columns, "data": rows}}).to_string(),
        ),
        (
            "json",
            "dataframe_records",
            format!("{{\"dataframe_records\": [{}]}}", records.join(", ")),
        ),
        (
            "csv",
            "csv header",
            format!("{}\n{}\n", quoted.join(","), csv_rows.join("\n")),
        ),
        ("csv", "csv no header", format!("{}\n", csv_rows.join("\n"))),
    ]
}

async fn check_model(model: &str, backend: BackendChoice, tol: f64) {
    let exp = expected(model);
    let s = serve_model(model, backend).await;
    let want = &exp["mlflow_response"];
    for (kind, what, body) in bodies(&exp) {
        let ct = if kind == "csv" {
            "text/csv"
        } else {
            "application/json"
        };
        let r = call(&s.app, "POST", "/invocations", Some(ct), body).await;
        assert_eq!(r.status, 200, "{model} {backend:?} {what}: {}", r.body);
        assert_eq!(r.header("x-weir-model-version"), Some("local"));
        let got = r.json();
        if tol == 0.0 {
            assert_eq!(&got, want, "{model} {backend:?} {what}");
        } else {
            assert!(
                close(&got, want, tol),
                "{model} {backend:?} {what}:\n{got}\n{want}"
            );
        }
    }

    // KServe V1: one prediction per row; several outputs give one object per row.
    let rows = exp["rows"].as_array().unwrap();
    let names: Vec<&str> = exp["output_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let r = post_json(
        &s.app,
        &format!("/v1/models/{model}:predict"),
        &json!({"instances": rows}),
    )
    .await;
    assert_eq!(r.status, 200, "{model} v1: {}", r.body);
    let preds = r.json()["predictions"].as_array().unwrap().clone();
    assert_eq!(preds.len(), rows.len());
    for (i, p) in preds.iter().enumerate() {
        let want_row = if names.len() == 1 {
            exp["outputs"][names[0]][i].clone()
        } else {
            let mut o = serde_json::Map::new();
            for n in &names {
                o.insert((*n).to_owned(), exp["outputs"][*n][i].clone());
            }
            Value::Object(o)
        };
        assert!(
            close(p, &want_row, tol.max(1e-12)),
            "{model} v1 row {i}: {p} vs {want_row}"
        );
    }

    // KServe V2: typed flat tensors.
    let flat: Vec<Value> = rows.iter().flat_map(flatten).collect();
    let width = rows[0].as_array().unwrap().len();
    let r = post_json(
        &s.app,
        &format!("/v2/models/{model}/infer"),
        &json!({"id": "t1", "inputs": [{"name": exp["input_name"], "shape": [rows.len(), width], "datatype": "FP32", "data": flat}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{model} v2: {}", r.body);
    let v2 = r.json();
    assert_eq!(v2["model_name"], model);
    assert_eq!(v2["id"], "t1");
    let outs = v2["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), names.len());
    for (o, n) in outs.iter().zip(&names) {
        assert_eq!(o["name"], *n);
        let want = &exp["outputs"][*n];
        let want_flat: Vec<Value> = match want[0] {
            // ZipMap: the probability matrix, classes in order.
            Value::Object(_) => want
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| {
                    let classes: Vec<String> = o["parameters"]["classes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.to_string().trim_matches('"').to_owned())
                        .collect();
                    classes
                        .into_iter()
                        .map(|c| row[c.as_str()].clone())
                        .collect::<Vec<_>>()
                })
                .collect(),
            _ => flatten(want),
        };
        assert!(
            close(&o["data"], &Value::Array(want_flat), tol.max(1e-12)),
            "{model} v2 {n}: {}",
            o["data"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_every_format_with_onnx_runtime() {
    require_ort();
    for (model, _) in MODELS {
        check_model(model, BackendChoice::Ort, 0.0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_tract_supports_every_format_with_tract() {
    for (model, tract_ok) in MODELS {
        if *tract_ok {
            check_model(model, BackendChoice::Tract, 1e-5).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tract_refuses_what_it_cannot_run_and_auto_picks_onnx_runtime() {
    for (model, tract_ok) in MODELS {
        if *tract_ok {
            continue;
        }
        let dir = models().join(model);
        let (s, loaded) =
            serve_uri(dir.to_str().unwrap(), BackendChoice::Tract, 1, 4, 1 << 20).await;
        let err = loaded.unwrap_err();
        assert!(
            err.contains("tract does not implement") && err.contains("Scaler"),
            "{err}"
        );
        let r = call(&s.app, "GET", "/ping", None, "").await;
        assert_eq!(r.status, 503);
        assert!(r.body.contains("Scaler"), "{}", r.body);
    }
    require_ort();
    let s = serve_model("diabetes-rf-regressor", BackendChoice::Auto).await;
    let m = s.serving.models[0].current().unwrap();
    assert_eq!(m.backend.as_str(), "ort");
}
