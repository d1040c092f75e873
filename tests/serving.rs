//! The serving runtime through its HTTP routers: the MLflow scoring protocol as captured from
//! `mlflow models serve`, KServe V1/V2 shapes, bad input of every kind, readiness, saturation,
//! metrics, and hot reload both in-process (`weir server --serve-model`) and over HTTP
//! (`weir models serve` against a live tracking server).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::serving::*;
use serde_json::{json, Value};
use weir::config::BackendChoice;
use weir::serving::Serving;

const ROW: &str = r#"{"inputs": [[5.1, 3.5, 1.4, 0.2]]}"#;

/// A model logged with the sklearn flavor only.
/// A flavor Weir does not serve (PyTorch): refused by name.
const PYTORCH_MLMODEL: &str = "flavors:\n  python_function:\n    loader_module: mlflow.pytorch\n  pytorch:\n    model_data: data\n";

/// A captured `curl` line: method, path, content type, body.
fn parse_curl(cmd: &str) -> Option<(String, String, Option<String>, String)> {
    let method = cmd.split(" -X ").nth(1)?.split(' ').next()?.to_owned();
    let url = cmd.split("http://127.0.0.1:").nth(1)?;
    let path = url[url.find('/')?..].split(' ').next()?.to_owned();
    let ct = cmd
        .split("-H 'Content-Type: ")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .map(str::to_owned);
    let body = match cmd.split_once("--data-binary '") {
        Some((_, rest)) => rest.strip_suffix('\'')?.to_owned(),
        None if cmd.contains("--data-binary @") => return None,
        None => String::new(),
    };
    Some((method, path, ct, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mlflow_scoring_protocol_matches_the_capture() {
    require_ort();
    let s = serve_model("iris-rf", BackendChoice::Ort).await;
    let capture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/serving/testdata/scoring_onnx_champion.jsonl"),
    )
    .unwrap();
    // Where Weir answers differently on purpose (see src/serving/README.md).
    let deviations: &[(&str, u16)] = &[
        // CSV works for tensor models (MLflow: 400 "TensorSpec only supports numpy types").
        ("csv_with_header", 200),
        ("csv_no_header", 200),
        ("csv_charset", 200),
        ("csv_pandas_to_csv", 200),
        // The key is the ONNX graph's input name, which Weir accepts.
        ("inputs_named_dict", 200),
        // A missing Content-Type is a client error, not MLflow's 500.
        ("err_no_content_type", 415),
    ];
    let mut checked = 0;
    for line in capture.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["case"].as_str().unwrap();
        let Some((method, path, ct, body)) = parse_curl(case["request"].as_str().unwrap()) else {
            continue; // parquet: a file upload, not replayable here (Weir answers 415)
        };
        let r = call(&s.app, &method, &path, ct.as_deref(), body).await;
        let want = deviations
            .iter()
            .find(|(c, _)| *c == name)
            .map_or(case["status"].as_u64().unwrap() as u16, |(_, s)| *s);
        assert_eq!(r.status.as_u16(), want, "{name}: {}", r.body);
        let captured = &case["body"];
        match want {
            200 if captured.get("predictions").is_some() || want != case["status"] => {
                let got = r.json();
                let p = &got["predictions"];
                assert!(
                    p["label"].is_array() && p["probabilities"].is_array(),
                    "{name}: {got}"
                );
                if let Some(cp) = captured.get("predictions") {
                    assert_eq!(p["label"], cp["label"], "{name}");
                    assert_eq!(
                        p["probabilities"].as_array().unwrap().len(),
                        cp["probabilities"].as_array().unwrap().len()
                    );
                }
            }
            200 => assert_eq!(r.body, captured.as_str().unwrap_or("\n"), "{name}"),
            400 => {
                let got = r.json();
                for k in ["error_code", "sqlstate", "error_class"] {
                    assert_eq!(got[k], captured[k], "{name} {k}: {got}");
                }
                assert!(!got["message"].as_str().unwrap().is_empty());
            }
            404 | 405 => assert_eq!(&r.json(), captured, "{name}"),
            415 => {
                assert!(
                    r.body
                        .starts_with("This predictor only supports the following content types"),
                    "{name}: {}",
                    r.body
                );
                assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
            }
            _ => {}
        }
        checked += 1;
    }
    assert!(checked >= 30, "{checked}");
    // The exact MLflow messages for the most common mistakes.
    let r = call(
        &s.app,
        "POST",
        "/invocations",
        Some("application/json"),
        r#"{"inputs": [["a", "b", "c", "d"]]}"#,
    )
    .await;
    assert_eq!(
        r.json()["message"],
        "Invalid input. could not convert string to float: 'a'"
    );
    let r = call(
        &s.app,
        "POST",
        "/invocations",
        Some("application/json"),
        r#"{"inputs": [[5.1, 3.5, 1.4]]}"#,
    )
    .await;
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .ends_with("Error: Shape of input (1, 3) does not match expected shape (-1, 4)."));
    let r = call(&s.app, "POST", "/invocations", Some("text/plain"), ROW).await;
    assert_eq!(r.body, "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got 'text/plain'.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_of_every_kind_is_a_clear_4xx_and_serving_goes_on() {
    require_ort();
    let dir = models().join("iris-rf");
    let (s, loaded) = serve_uri(dir.to_str().unwrap(), BackendChoice::Ort, 2, 16, 64 * 1024).await;
    loaded.unwrap();
    let huge = format!("{{\"inputs\": [{}]}}", vec!["[1,2,3,4]"; 20_000].join(","));
    let deep = format!(
        "{{\"inputs\": {}{}}}",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let cases: Vec<(&str, &str, Option<&str>, String, u16)> = vec![
        ("bad json", "/invocations", Some("application/json"), "{\"inputs\": [[1,".into(), 400),
        ("empty body", "/invocations", Some("application/json"), String::new(), 400),
        ("not an object", "/invocations", Some("application/json"), "42".into(), 400),
        ("wrong width", "/invocations", Some("application/json"), r#"{"inputs": [[1, 2, 3]]}"#.into(), 400),
        ("too wide", "/invocations", Some("application/json"), r#"{"inputs": [[1, 2, 3, 4, 5]]}"#.into(), 400),
        ("strings", "/invocations", Some("application/json"), r#"{"inputs": [["a", "b", "c", "d"]]}"#.into(), 400),
        ("nested dicts", "/invocations", Some("application/json"), r#"{"inputs": [[{"a": 1}, 2, 3, 4]]}"#.into(), 400),
        ("ragged", "/invocations", Some("application/json"), r#"{"inputs": [[1, 2, 3, 4], [1, 2]]}"#.into(), 400),
        ("empty list", "/invocations", Some("application/json"), r#"{"inputs": []}"#.into(), 400),
        ("empty rows", "/invocations", Some("application/json"), r#"{"dataframe_split": {"columns": ["a"], "data": []}}"#.into(), 400),
        ("null", "/invocations", Some("application/json"), r#"{"inputs": null}"#.into(), 400),
        ("huge numbers", "/invocations", Some("application/json"), r#"{"inputs": [[1e400, 2, 3, 4]]}"#.into(), 400),
        ("deep nesting", "/invocations", Some("application/json"), deep, 400),
        ("not utf-8 csv", "/invocations", Some("text/csv"), String::from_utf8_lossy(&[0xff, 0xfe, 0x00]).into_owned(), 400),
        ("bad csv", "/invocations", Some("text/csv"), "a,b,c,d\nx,y,z,w\n".into(), 400),
        ("short csv row", "/invocations", Some("text/csv"), "a,b,c,d\n1,2\n".into(), 400),
        ("huge body", "/invocations", Some("application/json"), huge.clone(), 413),
        ("wrong content type", "/invocations", Some("text/plain"), ROW.into(), 415),
        ("form content type", "/invocations", Some("application/x-www-form-urlencoded"), ROW.into(), 415),
        ("no content type", "/invocations", None, ROW.into(), 415),
        ("parquet", "/invocations", Some("application/vnd.apache.parquet"), "PAR1".into(), 415),
        ("v1 bad json", "/v1/models/iris-rf:predict", Some("application/json"), "{".into(), 400),
        ("v1 no instances", "/v1/models/iris-rf:predict", Some("application/json"), "{}".into(), 400),
        ("v1 wrong width", "/v1/models/iris-rf:predict", Some("application/json"), r#"{"instances": [[1, 2]]}"#.into(), 400),
        ("v1 huge", "/v1/models/iris-rf:predict", Some("application/json"), huge.clone(), 413),
        ("v2 bad json", "/v2/models/iris-rf/infer", Some("application/json"), "nope".into(), 400),
        ("v2 shape/data mismatch", "/v2/models/iris-rf/infer", Some("application/json"), r#"{"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#.into(), 400),
        ("v2 unknown output", "/v2/models/iris-rf/infer", Some("application/json"), r#"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], "outputs": [{"name": "nope"}]}"#.into(), 400),
        ("v2 strings", "/v2/models/iris-rf/infer", Some("application/json"), r#"{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]}"#.into(), 400),
        ("v2 huge", "/v2/models/iris-rf/infer", Some("application/json"), huge, 413),
        ("unknown model v2", "/v2/models/nope/infer", Some("application/json"), "{}".into(), 404),
        ("unknown model v1", "/v1/models/nope:predict", Some("application/json"), "{}".into(), 404),
        ("unknown verb v1", "/v1/models/iris-rf:explain", Some("application/json"), "{}".into(), 404),
        ("unknown model path", "/models/nope/invocations", Some("application/json"), ROW.into(), 404),
    ];
    for (what, path, ct, body, status) in cases {
        let r = call(&s.app, "POST", path, ct, body).await;
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.body);
        if status != 415 {
            let j = r.json();
            let msg = j
                .get("message")
                .or_else(|| j.get("error"))
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{what}: no message in {j}"));
            assert!(!msg.is_empty(), "{what}");
        }
        let ok = call(
            &s.app,
            "POST",
            "/invocations",
            Some("application/json"),
            ROW,
        )
        .await;
        assert_eq!(ok.status, 200, "after {what}: {}", ok.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kserve_v1_and_v2_shapes() {
    require_ort();
    let s = serve_model("iris-rf", BackendChoice::Ort).await;
    let get = |p: &'static str| call(&s.app, "GET", p, None, "");
    let r = get("/v1/models").await;
    assert_eq!(r.json(), json!({"models": ["iris-rf"]}));
    let r = get("/v1/models/iris-rf").await;
    assert_eq!(r.json(), json!({"name": "iris-rf", "ready": true}));
    assert_eq!(get("/v1/models/nope").await.status, 404);
    let r = post_json(
        &s.app,
        "/v1/models/iris-rf:predict",
        &json!({"instances": [[5.1, 3.5, 1.4, 0.2]]}),
    )
    .await;
    let p = &r.json()["predictions"][0];
    assert_eq!(p["label"], 0);
    assert_eq!(p["probabilities"].as_array().unwrap().len(), 3);

    assert_eq!(get("/v2").await.json()["name"], "weir");
    assert_eq!(get("/v2/health/live").await.status, 200);
    assert_eq!(get("/v2/health/ready").await.json(), json!({"ready": true}));
    let meta = get("/v2/models/iris-rf").await.json();
    assert_eq!(
        meta,
        json!({
            "name": "iris-rf",
            "versions": ["local"],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [
                {"name": "label", "datatype": "INT64", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}
            ]
        })
    );
    assert_eq!(get("/v2/models/iris-rf/versions/local").await.status, 200);
    assert_eq!(get("/v2/models/iris-rf/versions/7").await.status, 404);
    assert_eq!(
        get("/v2/models/iris-rf/ready").await.json(),
        json!({"name": "iris-rf", "ready": true})
    );
    assert_eq!(
        get("/v2/models/iris-rf/versions/local/ready").await.status,
        200
    );
    assert_eq!(get("/v2/models/iris-rf/versions/7/ready").await.status, 503);
    assert_eq!(get("/v2/models/nope/ready").await.status, 404);
    let infer = json!({"id": "42", "inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}], "outputs": [{"name": "label"}]});
    for path in [
        "/v2/models/iris-rf/infer",
        "/v2/models/iris-rf/versions/local/infer",
    ] {
        let r = post_json(&s.app, path, &infer).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.json(),
            json!({"model_name": "iris-rf", "model_version": "local", "id": "42",
                   "outputs": [{"name": "label", "datatype": "INT64", "shape": [2], "data": [0, 2]}]})
        );
        assert_eq!(r.header("x-weir-model-version"), Some("local"));
    }
    assert_eq!(
        post_json(&s.app, "/v2/models/iris-rf/versions/3/infer", &infer)
            .await
            .status,
        404
    );
    // Every response carries the served version, even health and metrics.
    for p in ["/ping", "/health", "/metrics", "/v2/health/live", "/nope"] {
        assert_eq!(
            get(p).await.header("x-weir-model-version"),
            Some("local"),
            "{p}"
        );
    }
    let r = get("/ajax-api/2.0/weir/served-models").await;
    assert_eq!(
        r.json()["models"][0],
        json!({"name": "iris-rf", "model_uri": models().join("iris-rf").display().to_string(),
               "status": "READY", "version": "local", "backend": "ort"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_says_why_until_the_model_loads() {
    let missing = tempfile::tempdir().unwrap();
    let (s, loaded) = serve_uri(
        missing.path().to_str().unwrap(),
        BackendChoice::Auto,
        1,
        4,
        1 << 20,
    )
    .await;
    assert!(loaded.unwrap_err().contains("no MLmodel file"));
    for p in ["/ping", "/health"] {
        let r = call(&s.app, "GET", p, None, "").await;
        assert_eq!(r.status, 503);
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("no MLmodel file"),
            "{}",
            r.body
        );
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    assert_eq!(
        call(&s.app, "GET", "/v2/health/live", None, "")
            .await
            .status,
        200
    );
    assert_eq!(
        call(&s.app, "GET", "/v2/health/ready", None, "")
            .await
            .status,
        503
    );
    let r = call(
        &s.app,
        "POST",
        "/invocations",
        Some("application/json"),
        ROW,
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error_code"], "TEMPORARILY_UNAVAILABLE");
    assert_eq!(
        call(&s.app, "GET", "/ajax-api/2.0/weir/served-models", None, "")
            .await
            .json()["models"][0]["status"],
        "FAILED"
    );

    // The directory appears: the retrying watcher picks it up.
    let src = models().join("iris-logreg");
    for f in ["MLmodel", "model.onnx"] {
        std::fs::copy(src.join(f), missing.path().join(f)).unwrap();
    }
    let mut versions = s.serving.models[0].versions();
    tokio::time::timeout(Duration::from_secs(30), versions.wait_for(Option::is_some))
        .await
        .expect("loaded once the files are there")
        .unwrap();
    assert_eq!(call(&s.app, "GET", "/ping", None, "").await.status, 200);

    // A model of a flavor Weir does not serve is refused, naming what it has.
    let sk = tempfile::tempdir().unwrap();
    std::fs::write(sk.path().join("MLmodel"), PYTORCH_MLMODEL).unwrap();
    let (s, loaded) = serve_uri(
        sk.path().to_str().unwrap(),
        BackendChoice::Auto,
        1,
        4,
        1 << 20,
    )
    .await;
    let err = loaded.unwrap_err();
    assert!(
        err.contains("flavors found: python_function, pytorch"),
        "{err}"
    );
    assert!(err.contains("mlflow.onnx.log_model"), "{err}");
    let r = call(&s.app, "GET", "/health", None, "").await;
    assert!(r.body.contains("torch.onnx.export"), "{}", r.body);

    // Shutting down: readiness turns 503 at once.
    let ok = serve_model("iris-logreg", BackendChoice::Tract).await;
    assert_eq!(call(&ok.app, "GET", "/ping", None, "").await.status, 200);
    ok.serving.begin_shutdown();
    assert_eq!(call(&ok.app, "GET", "/ping", None, "").await.status, 503);
    assert_eq!(
        call(&ok.app, "GET", "/v2/health/ready", None, "")
            .await
            .status,
        503
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_answers_503_with_retry_after() {
    // One tract worker and no queue; a large batch keeps it busy.
    let dir = models().join("iris-rf");
    let (s, loaded) = serve_uri(dir.to_str().unwrap(), BackendChoice::Tract, 1, 0, 64 << 20).await;
    loaded.unwrap();
    let model = s.serving.models[0].current().unwrap();
    // Long enough to hold the worker while the other requests arrive, short enough to finish
    // inside the request timeout on a loaded 2-core machine.
    let rows: Vec<[f32; 4]> = (0..8_000)
        .map(|i| [5.0 + (i % 30) as f32 / 10.0, 3.0, 1.4, 0.2])
        .collect();
    let big = json!({"inputs": rows}).to_string();
    let app = s.app.clone();
    let slow = tokio::spawn(async move {
        call(&app, "POST", "/invocations", Some("application/json"), big).await
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while model.in_flight() == 0 {
        assert!(Instant::now() < deadline, "the big request never started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let r = call(
        &s.app,
        "POST",
        "/invocations",
        Some("application/json"),
        ROW,
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["error_code"], "TEMPORARILY_UNAVAILABLE");
    let r = post_json(&s.app, "/v2/models/iris-rf/infer", &json!({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]})).await;
    assert_eq!(r.status, 503);
    let big = slow.await.unwrap();
    assert_eq!(big.status, 200);
    assert_eq!(
        big.json()["predictions"]["label"].as_array().unwrap().len(),
        8_000
    );
    assert_eq!(
        call(
            &s.app,
            "POST",
            "/invocations",
            Some("application/json"),
            ROW
        )
        .await
        .status,
        200
    );
    let metrics = call(&s.app, "GET", "/metrics", None, "").await.body;
    assert!(
        metrics.contains("weir_inference_rejected_total{model=\"iris-rf\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prefixed_and_labelled() {
    require_ort();
    let s = serve_model("iris-rf-zipmap", BackendChoice::Ort).await;
    call(
        &s.app,
        "POST",
        "/invocations",
        Some("application/json"),
        ROW,
    )
    .await;
    let m = call(&s.app, "GET", "/metrics", None, "").await.body;
    for needle in [
        "weir_serving_requests_total{model=\"iris-rf-zipmap\",route=\"/invocations\",status=\"200\",version=\"local\"}",
        "weir_serving_request_duration_seconds_bucket{model=\"iris-rf-zipmap\",route=\"/invocations\",le=\"0.0001\"}",
        "weir_inference_duration_seconds_bucket{backend=\"ort\",model=\"iris-rf-zipmap\",version=\"local\",le=\"0.00001\"}",
        "weir_inference_queue_depth{model=\"iris-rf-zipmap\"}",
        "weir_inference_queue_wait_seconds",
        "weir_model_load_duration_seconds_bucket{model=\"iris-rf-zipmap\",stage=\"load\"",
        "weir_model_loaded_version{model=\"iris-rf-zipmap\",version=\"local\"} 1",
        "weir_model_ready{model=\"iris-rf-zipmap\"} 1",
        "weir_http_requests_total{method=\"POST\",route=\"/invocations\",status=\"200\"}",
        // The standard process metrics.
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    assert!(
        m.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(|l| l.starts_with("weir_") || l.starts_with("process_")),
        "every metric is prefixed weir_ (besides Prometheus' standard process_ metrics)"
    );
}

/// A tracking server (`weir server`) on a real socket, with proxied artifacts.
struct Tracking {
    url: String,
    state: weir::app::AppState,
    _store: common::TestStore,
    _dir: tempfile::TempDir,
}

async fn tracking_server(hide_weir_resolver: bool) -> Tracking {
    let t = common::TestStore::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = weir::artifacts::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let state = weir::app::AppState::new(
        t.store.clone(),
        weir::artifacts::Artifacts::new(Some(repo)),
        "mlflow-artifacts:".into(),
        64 << 20,
    );
    state.tracking.ensure_default_experiment().await.unwrap();
    let mut app = weir::app::app(state.clone());
    if hide_weir_resolver {
        // Behave like MLflow: no Weir resolver, so the client falls back to MLflow's endpoints.
        app = app.layer(axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| async move {
                if req.uri().path().starts_with("/api/2.0/weir/") {
                    use axum::response::IntoResponse;
                    return (axum::http::StatusCode::NOT_FOUND, "<html>Not Found</html>")
                        .into_response();
                }
                next.run(req).await
            },
        ));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Tracking {
        url,
        state,
        _store: t,
        _dir: dir,
    }
}

impl Tracking {
    async fn api(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = reqwest::Client::new()
            .request(method, format!("{}/api/2.0/mlflow/{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{path}: {}",
            r.text().await.unwrap()
        );
        r.json().await.unwrap()
    }

    /// Upload a bundled model into a new run's artifacts (through the proxy) and register it as
    /// a new version of `name`, as the 2.x client's `register_model` does.
    async fn register(&self, name: &str, model: &str, key: &str) -> String {
        let client = reqwest::Client::new();
        let run = self
            .api(
                reqwest::Method::POST,
                "runs/create",
                json!({"experiment_id": "0", "run_name": key}),
            )
            .await;
        let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_owned();
        let root = run["run"]["info"]["artifact_uri"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = root.trim_start_matches("mlflow-artifacts:/").to_owned();
        let files: &[&str] = if model == "pytorch" {
            &["MLmodel"]
        } else {
            &["MLmodel", "model.onnx", "conda.yaml"]
        };
        for f in files {
            let bytes = if model == "pytorch" {
                PYTORCH_MLMODEL.as_bytes().to_vec()
            } else {
                std::fs::read(models().join(model).join(f)).unwrap()
            };
            let r = client
                .put(format!(
                    "{}/api/2.0/mlflow-artifacts/artifacts/{path}/{key}/model/{f}",
                    self.url
                ))
                .body(bytes)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
        let _ = client
            .post(format!(
                "{}/api/2.0/mlflow/registered-models/create",
                self.url
            ))
            .json(&json!({"name": name}))
            .send()
            .await;
        let v = self
            .api(
                reqwest::Method::POST,
                "model-versions/create",
                json!({"name": name, "source": format!("{root}/{key}/model"), "run_id": run_id}),
            )
            .await;
        v["model_version"]["version"].as_str().unwrap().to_owned()
    }

    async fn set_alias(&self, name: &str, alias: &str, version: &str) {
        self.api(
            reqwest::Method::POST,
            "registered-models/alias",
            json!({"name": name, "alias": alias, "version": version}),
        )
        .await;
    }
}

/// Score continuously from several tasks; count failures and collect the versions answered.
struct Hammer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    failures: Arc<AtomicUsize>,
    ok: Arc<AtomicUsize>,
    last_version: Arc<std::sync::Mutex<String>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Hammer {
    fn start(app: axum::Router, path: &'static str, tasks: usize) -> Hammer {
        let h = Hammer {
            stop: Default::default(),
            failures: Default::default(),
            ok: Default::default(),
            last_version: Default::default(),
            tasks: Vec::new(),
        };
        let tasks = (0..tasks)
            .map(|_| {
                let (app, stop, failures, ok, last) = (
                    app.clone(),
                    h.stop.clone(),
                    h.failures.clone(),
                    h.ok.clone(),
                    h.last_version.clone(),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let r = call(&app, "POST", path, Some("application/json"), ROW).await;
                        if r.status == 200 {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if let Some(v) = r.header("x-weir-model-version") {
                                *last.lock().unwrap() = v.to_owned();
                            }
                        } else {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        Hammer { tasks, ..h }
    }

    fn version(&self) -> String {
        self.last_version.lock().unwrap().clone()
    }

    async fn wait_for_version(&self, v: &str, within: Duration) -> Duration {
        let t = Instant::now();
        while self.version() != v {
            assert!(
                t.elapsed() < within,
                "version {v} not served within {within:?} (serving {})",
                self.version()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        t.elapsed()
    }

    async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weir_server_serves_in_process_and_reloads_when_the_alias_moves() {
    let t = tracking_server(false).await;
    let v1 = t.register("iris", "iris-rf", "a").await;
    let v2 = t.register("iris", "iris-logreg", "b").await;
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(BackendChoice::Auto, 2, 64, cache.path());
    // Polling is off: only the in-process notification can trigger the reload.
    cfg.poll_interval = None;
    let mut state = t.state.clone();
    let serving = weir::serving::start_in_process(
        &["models:/iris@champion".to_owned()],
        cfg,
        state.registry.clone(),
    )
    .unwrap();
    state.serving = Some(serving.clone());
    let app = weir::app::app(state);

    // No alias yet: not ready, and the tracking server's own /health is unaffected.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = call(&app, "POST", "/invocations", Some("application/json"), ROW).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(call(&app, "GET", "/health", None, "").await.status, 200);
    assert_eq!(
        call(&app, "GET", "/v2/health/ready", None, "").await.status,
        503
    );

    let t0 = Instant::now();
    t.set_alias("iris", "champion", &v1).await;
    let mut versions = serving.models[0].versions();
    tokio::time::timeout(
        Duration::from_secs(20),
        versions.wait_for(|v| v.as_deref() == Some(v1.as_str())),
    )
    .await
    .expect("loaded after the alias was set")
    .unwrap();
    eprintln!("alias set → serving v1 in {:?}", t0.elapsed());
    for path in ["/invocations", "/models/iris/invocations"] {
        let r = call(&app, "POST", path, Some("application/json"), ROW).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-weir-model-version"), Some(v1.as_str()));
    }
    let listing = call(&app, "GET", "/ajax-api/2.0/weir/served-models", None, "")
        .await
        .json();
    assert_eq!(listing["models"][0]["status"], "READY");
    assert_eq!(listing["models"][0]["version"], v1);
    assert_eq!(listing["models"][0]["model_uri"], "models:/iris@champion");

    // Move the alias under load: zero failed requests, and v2 answers right away.
    let hammer = Hammer::start(app.clone(), "/invocations", 8);
    tokio::time::sleep(Duration::from_millis(200)).await;
    t.set_alias("iris", "champion", &v2).await;
    let took = hammer.wait_for_version(&v2, Duration::from_secs(10)).await;
    eprintln!("alias moved → v2 answers after {took:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ok, failed) = hammer.finish().await;
    assert_eq!(
        failed, 0,
        "{failed} failed requests during the swap ({ok} succeeded)"
    );
    assert!(ok > 100, "{ok}");
    let r = call(&app, "POST", "/invocations", Some("application/json"), ROW).await;
    assert_eq!(r.header("x-weir-model-version"), Some(v2.as_str()));
    let m = call(&app, "GET", "/metrics", None, "").await.body;
    assert!(
        m.contains(&format!(
            "weir_model_loaded_version{{model=\"iris\",version=\"{v2}\"}} 1"
        )),
        "{m}"
    );
    assert!(!m.contains(&format!(
        "weir_model_loaded_version{{model=\"iris\",version=\"{v1}\"}}"
    )));
}

/// What an in-process served model does when the registry moves under it by a path other than
/// an alias change: deleting the version `latest` names reloads the one before it at once;
/// deleting the version an alias names, or the whole model, is noticed at once (the old version
/// keeps answering, and the status says why). Polling is off: only the registry's own
/// announcement can make these happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_versions_and_models_is_noticed_at_once() {
    let t = tracking_server(false).await;
    let v1 = t.register("iris", "iris-rf", "a").await;
    let v2 = t.register("iris", "iris-logreg", "b").await;
    t.set_alias("iris", "champion", &v2).await;
    t.register("other", "iris-rf", "c").await;
    t.set_alias("other", "champion", "1").await;
    let cache = tempfile::tempdir().unwrap();
    let no_polling = || {
        let mut c = config(BackendChoice::Auto, 1, 16, cache.path());
        c.poll_interval = None;
        c
    };
    // One model may be served once per process: `latest` and `@champion` of `iris` in two.
    let latest = weir::serving::start_in_process(
        &[
            "models:/iris/latest".to_owned(),
            "models:/other@champion".to_owned(),
        ],
        no_polling(),
        t.state.registry.clone(),
    )
    .unwrap();
    let aliased = weir::serving::start_in_process(
        &["models:/iris@champion".to_owned()],
        no_polling(),
        t.state.registry.clone(),
    )
    .unwrap();
    assert_eq!(wait_loaded(&latest.models[0]).await.unwrap(), v2);
    assert_eq!(wait_loaded(&latest.models[1]).await.unwrap(), "1");
    assert_eq!(wait_loaded(&aliased.models[0]).await.unwrap(), v2);

    // Deleting v2: `latest` now names v1 and is reloaded; the alias is gone with v2.
    let t0 = Instant::now();
    t.api(
        reqwest::Method::DELETE,
        "model-versions/delete",
        json!({"name": "iris", "version": v2}),
    )
    .await;
    let mut versions = latest.models[0].versions();
    tokio::time::timeout(
        Duration::from_secs(5),
        versions.wait_for(|v| v.as_deref() == Some(v1.as_str())),
    )
    .await
    .expect("latest reloaded to v1 after v2 was deleted")
    .unwrap();
    eprintln!(
        "version deleted → latest serves v1 after {:?}",
        t0.elapsed()
    );
    let noticed = |m: &weir::serving::ServedModel| {
        m.status()
            .message
            .is_some_and(|msg| msg.contains("cannot resolve"))
    };
    for _ in 0..100 {
        if noticed(&aliased.models[0]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        noticed(&aliased.models[0]),
        "{:?}",
        aliased.models[0].status()
    );
    assert!(
        aliased.models[0].current().is_some(),
        "the old version keeps answering"
    );

    // Deleting the whole model is noticed too.
    t.api(
        reqwest::Method::DELETE,
        "registered-models/delete",
        json!({"name": "other"}),
    )
    .await;
    for _ in 0..100 {
        if noticed(&latest.models[1]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        noticed(&latest.models[1]),
        "{:?}",
        latest.models[1].status()
    );
}

async fn remote_serving(
    t: &Tracking,
    uri: &str,
    cache: &std::path::Path,
) -> (Arc<Serving>, axum::Router) {
    let serving = Arc::new(
        Serving::new(&[uri.to_owned()], config(BackendChoice::Auto, 2, 64, cache)).unwrap(),
    );
    let source = Arc::new(weir::serving::source::Remote::new(&t.url).unwrap());
    serving.start(source, None);
    let app = weir::app::serving_app(serving.clone(), 16 << 20);
    (serving, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_serve_resolves_over_http_and_follows_the_alias() {
    for hide_weir_resolver in [false, true] {
        let t = tracking_server(hide_weir_resolver).await;
        let v1 = t.register("iris-onnx", "iris-rf", "a").await;
        let v2 = t.register("iris-onnx", "iris-logreg", "b").await;
        t.set_alias("iris-onnx", "champion", &v1).await;
        let cache = tempfile::tempdir().unwrap();
        let (serving, app) = remote_serving(&t, "models:/iris-onnx@champion", cache.path()).await;
        assert_eq!(wait_loaded(&serving.models[0]).await.unwrap(), v1);
        let r = call(&app, "POST", "/invocations", Some("application/json"), ROW).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-weir-model-version"), Some(v1.as_str()));
        // KServe's name is the registered model's.
        let r = post_json(&app, "/v2/models/iris-onnx/infer", &json!({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["model_version"], v1);

        let hammer = Hammer::start(app.clone(), "/invocations", 4);
        tokio::time::sleep(Duration::from_millis(100)).await;
        t.set_alias("iris-onnx", "champion", &v2).await;
        // Poll interval 200 ms (+ download and load).
        let took = hammer.wait_for_version(&v2, Duration::from_secs(10)).await;
        let (ok, failed) = hammer.finish().await;
        eprintln!("resolver hidden: {hide_weir_resolver}: v2 after {took:?}, {ok} ok");
        assert_eq!(failed, 0);

        // A version that cannot load: the previous one keeps serving, and health says why.
        let bad = t.register("iris-onnx", "pytorch", "c").await;
        t.set_alias("iris-onnx", "champion", &bad).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while serving.models[0].status().message.is_none() {
            assert!(
                Instant::now() < deadline,
                "the failed reload was not reported"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = call(&app, "GET", "/health", None, "").await;
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains(&format!("cannot load version {bad}")),
            "{}",
            r.body
        );
        assert!(
            r.body.contains(&format!("still serving version {v2}")),
            "{}",
            r.body
        );
        let r = call(&app, "POST", "/invocations", Some("application/json"), ROW).await;
        assert_eq!(r.header("x-weir-model-version"), Some(v2.as_str()));
        let listing = call(&app, "GET", "/ajax-api/2.0/weir/served-models", None, "")
            .await
            .json();
        assert_eq!(listing["models"][0]["status"], "READY");
        assert!(listing["models"][0]["message"]
            .as_str()
            .unwrap()
            .contains("flavors found"));
        let m = call(&app, "GET", "/metrics", None, "").await.body;
        assert!(
            m.contains("weir_model_load_failures_total{model=\"iris-onnx\",stage=\"load\"}"),
            "{m}"
        );
        // Moving back to a good version clears it.
        t.set_alias("iris-onnx", "champion", &v1).await;
        let mut versions = serving.models[0].versions();
        tokio::time::timeout(
            Duration::from_secs(10),
            versions.wait_for(|v| v.as_deref() == Some(v1.as_str())),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(call(&app, "GET", "/health", None, "").await.body, "\n");

        // Fixed versions and stages resolve too; downloads are cached.
        t.api(
            reqwest::Method::POST,
            "model-versions/transition-stage",
            json!({"name": "iris-onnx", "version": v2, "stage": "Production", "archive_existing_versions": false}),
        )
        .await;
        for (uri, want) in [
            (format!("models:/iris-onnx/{v1}"), v1.clone()),
            ("models:/iris-onnx/Production".to_owned(), v2.clone()),
        ] {
            let (serving, _) = remote_serving(&t, &uri, cache.path()).await;
            assert_eq!(
                wait_loaded(&serving.models[0]).await.unwrap(),
                want,
                "{uri}"
            );
        }
        let cached: Vec<_> = std::fs::read_dir(cache.path().join("iris-onnx"))
            .unwrap()
            .collect();
        assert_eq!(
            cached.len(),
            3,
            "one cache entry per version (v1, v2 and the bad v3), each downloaded once"
        );

        // `latest` is the version that cannot load: not ready, saying why.
        let (serving, _) = remote_serving(&t, "models:/iris-onnx/latest", cache.path()).await;
        let err = wait_loaded(&serving.models[0]).await.unwrap_err();
        assert!(
            err.contains(&format!("version {bad}")) && err.contains("flavors found"),
            "{err}"
        );

        // A missing alias: not ready, retrying, saying why.
        let (serving, app) = remote_serving(&t, "models:/iris-onnx@nope", cache.path()).await;
        let err = wait_loaded(&serving.models[0]).await.unwrap_err();
        assert!(err.contains("nope"), "{err}");
        let r = call(&app, "GET", "/ping", None, "").await;
        assert_eq!(r.status, 503);
    }
}

/// KServe's clients decode `{"error": ...}`: unknown V2 (and V1) paths and wrong methods answer in
/// that shape; MLflow's scoring routes keep FastAPI's `{"detail": ...}`.
#[tokio::test]
async fn kserve_paths_answer_routing_errors_in_kserve_shape() {
    let s = serve_model("iris-logreg", BackendChoice::Tract).await;
    for (method, path, status) in [
        ("GET", "/v2/nope", 404),
        ("GET", "/v2/models/iris-logreg/nope", 404),
        ("GET", "/v2/models/iris-logreg/infer", 405),
        ("POST", "/v2/health/live", 405),
        ("GET", "/v1/models/iris-logreg/extra", 404),
    ] {
        let r = call(&s.app, method, path, None, "").await;
        assert_eq!(r.status.as_u16(), status, "{method} {path}: {}", r.body);
        let msg = r.json()["error"].as_str().map(str::to_owned);
        assert!(
            msg.is_some_and(|m| m.contains(path)),
            "{method} {path}: {}",
            r.body
        );
    }
    let r = call(&s.app, "GET", "/nope", None, "").await;
    assert_eq!(
        (r.status.as_u16(), r.json()["detail"].as_str()),
        (404, Some("Not Found"))
    );
    let r = call(&s.app, "GET", "/invocations", None, "").await;
    assert_eq!(
        (r.status.as_u16(), r.json()["detail"].as_str()),
        (405, Some("Method Not Allowed"))
    );
}
