//! Adaptive batching: under concurrency, requests merged into one engine call get exactly the
//! answers they get one at a time, in every input format, and requests that cannot be merged
//! (other widths, bad input) are answered on their own.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use common::serving::*;
use weir::config::BackendChoice;
use weir::serving::pool::Batching;
use weir::serving::Serving;

/// Serve `models/<dir>` as `name` with one worker (so requests queue and merge) and these batch
/// settings.
async fn serve(
    dir: &str,
    name: &str,
    backend: BackendChoice,
    batching: Batching,
) -> (Router, Arc<Serving>, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(backend, 1, 512, cache.path());
    cfg.batching = batching;
    let uri = format!("{name}={}", models().join(dir).display());
    let serving = Arc::new(Serving::new(&[uri], cfg).unwrap());
    serving.start(Arc::new(weir::serving::source::NoSource), None);
    wait_loaded(&serving.models[0]).await.unwrap();
    (
        weir::app::serving_app(serving.clone(), 16 << 20),
        serving,
        cache,
    )
}

/// Request `i` in one of the formats a client may use, with 1 to 3 rows (some invalid).
fn request(model: &str, i: usize) -> (String, &'static str, String) {
    let rows: Vec<[f64; 4]> = (0..1 + i % 3)
        .map(|r| {
            let x = (i * 7 + r * 3) as f64;
            [4.3 + x % 3.6, 2.0 + x % 2.4, 1.0 + x % 5.9, 0.1 + x % 2.4]
        })
        .collect();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let n = rows.len();
    let json = |v: serde_json::Value| v.to_string();
    match i % 7 {
        0 => (
            "/invocations".into(),
            "application/json",
            json(serde_json::json!({"inputs": rows})),
        ),
        1 => (
            "/invocations".into(),
            "application/json",
            json(serde_json::json!({
            "dataframe_split": {"columns": ["a", "b", "c", "d"], "data": rows}})),
        ),
        2 => (
            "/invocations".into(),
            "text/csv",
            rows.iter()
                .map(|r| r.iter().map(f64::to_string).collect::<Vec<_>>().join(",") + "\n")
                .collect(),
        ),
        3 => (
            format!("/v1/models/{model}:predict"),
            "application/json",
            json(serde_json::json!({"instances": rows})),
        ),
        4 => (
            format!("/v2/models/{model}/infer"),
            "application/json",
            json(serde_json::json!({
            "id": format!("r{i}"),
            "inputs": [{"name": "X", "shape": [n, 4], "datatype": "FP64", "data": flat}]})),
        ),
        // A request of the wrong width: refused alone, never merged with the others.
        5 => (
            format!("/v2/models/{model}/infer"),
            "application/json",
            json(serde_json::json!({
            "inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})),
        ),
        _ => (
            "/invocations".into(),
            "application/json",
            json(serde_json::json!({"instances": rows})),
        ),
    }
}

/// Fire `n` requests at once and collect (status, body) in request order.
async fn fire(app: &Router, model: &str, n: usize) -> Vec<(u16, String)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let app = app.clone();
            let (path, ct, body) = request(model, i);
            tokio::spawn(async move {
                let r = call(&app, "POST", &path, Some(ct), body).await;
                (r.status.as_u16(), r.body)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Rows and engine calls `weir_inference_batch_rows` counted for `name`.
async fn batch_rows(app: &Router, name: &str) -> (f64, u64) {
    let text = call(app, "GET", "/metrics", None, "").await.body;
    let get = |what: &str| -> f64 {
        text.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "weir_inference_batch_rows_{what}{{model=\"{name}\""
                ))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (get("sum"), get("count") as u64)
}

/// `tol` 0: byte-identical answers. Otherwise floats may differ by float32 rounding: a matrix
/// kernel sums in another order for another batch size (labels and every integer stay equal).
async fn same_answers_with_and_without_batching(dir: &str, backend: BackendChoice, tol: f64) {
    let (off_name, on_name) = (
        format!("{dir}-{backend:?}-off"),
        format!("{dir}-{backend:?}-on"),
    );
    let (off, _s_off, _c1) = serve(dir, &off_name, backend, Batching::OFF).await;
    let batching = Batching {
        max_rows: 32,
        max_delay: Duration::from_millis(2),
    };
    let (on, _s_on, _c2) = serve(dir, &on_name, backend, batching).await;
    let mut answered = 0u64;
    for round in 0..3 {
        let want = fire(&off, &off_name, 96).await;
        let got = fire(&on, &on_name, 96).await;
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            let g = (g.0, g.1.replace(&on_name, &off_name));
            let what = format!(
                "{dir} {backend:?} round {round} request {i}: {:?}",
                request(&off_name, i)
            );
            if tol == 0.0 || w.0 != 200 {
                assert_eq!(*w, g, "{what}");
            } else {
                let (a, b): (serde_json::Value, serde_json::Value) = (
                    serde_json::from_str(&w.1).unwrap(),
                    serde_json::from_str(&g.1).unwrap(),
                );
                assert!(w.0 == g.0 && close(&a, &b, tol), "{what}\n{a}\n{b}");
            }
        }
        assert!(want.iter().any(|(s, _)| *s == 200) && want.iter().any(|(s, _)| *s == 400));
        answered += got.iter().filter(|(s, _)| *s == 200).count() as u64;
    }
    // Requests really were merged: fewer engine calls than answered requests.
    let (rows, calls) = batch_rows(&on, &on_name).await;
    assert!(
        calls > 0 && calls < answered,
        "{dir}: {rows} rows in {calls} calls for {answered} requests"
    );
    let (_, unbatched_calls) = batch_rows(&off, &off_name).await;
    assert_eq!(
        unbatched_calls, answered,
        "one engine call per request without batching"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_answers_equal_unbatched_ones_onnx_runtime() {
    require_ort();
    // Trees: no sums across features, so the answers are byte-identical.
    same_answers_with_and_without_batching("iris-rf", BackendChoice::Ort, 0.0).await;
    same_answers_with_and_without_batching("iris-rf-zipmap", BackendChoice::Ort, 0.0).await;
    same_answers_with_and_without_batching("iris-logreg", BackendChoice::Ort, 1e-6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_answers_equal_unbatched_ones_tract() {
    same_answers_with_and_without_batching("iris-rf", BackendChoice::Tract, 0.0).await;
    same_answers_with_and_without_batching("iris-logreg", BackendChoice::Tract, 1e-6).await;
}
