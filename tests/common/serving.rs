//! Helpers for the serving tests: serve a bundled model through the real router, call it, and
//! compare JSON with a tolerance.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;
use weir::config::BackendChoice;
use weir::serving::{served::State, ServedModel, Serving, ServingConfig};

/// The bundled example models (`models/`).
pub fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// The models the bundled set has, with whether tract can run them (see models/README.md).
pub const MODELS: &[(&str, bool)] = &[
    ("iris-rf", true),
    ("iris-rf-zipmap", true),
    ("iris-logreg", true),
    ("diabetes-rf-regressor", false),
];

pub fn expected(model: &str) -> Value {
    let text = std::fs::read_to_string(models().join(model).join("expected.json"))
        .expect("models/<name>/expected.json (run models/make_models.py)");
    serde_json::from_str(&text).unwrap()
}

/// Make sure ONNX Runtime's library is where Weir looks (ORT_DYLIB_PATH, or the cache that
/// scripts/fetch-onnxruntime.sh fills): on a fresh machine, run that script once. Called before
/// anything loads a model, since the library is loaded (or found missing) once per process.
pub fn ensure_onnx_runtime() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let found = weir::serving::backend::ort::library_candidates()
            .iter()
            .any(|p| p.is_file());
        if found {
            return;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-onnxruntime.sh");
        eprintln!("ONNX Runtime not found: running {}", script.display());
        match std::process::Command::new("bash").arg(&script).status() {
            Ok(s) if s.success() => {}
            other => eprintln!("{} failed: {other:?}", script.display()),
        }
    });
}

pub fn config(backend: BackendChoice, workers: usize, queue: usize, cache: &Path) -> ServingConfig {
    ensure_onnx_runtime();
    ServingConfig {
        backend,
        workers,
        queue_size: queue,
        poll_interval: Some(Duration::from_millis(200)),
        model_cache: cache.to_path_buf(),
        ..ServingConfig::default()
    }
}

/// ONNX Runtime must be available to these tests: say how to get it instead of skipping.
pub fn require_ort() {
    ensure_onnx_runtime();
    if let Err(e) = weir::serving::backend::ort::environment() {
        panic!(
            "ONNX Runtime is needed by the serving tests: {e}. {}",
            weir::serving::backend::ort::HOW_TO_GET
        );
    }
}

/// Wait until the model serves a version, or report why it failed to load.
pub async fn wait_loaded(m: &ServedModel) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(cur) = m.current() {
            return Ok(cur.version.clone());
        }
        let s = m.status();
        if s.state == State::Failed {
            return Err(s.message.unwrap_or_default());
        }
        if tokio::time::Instant::now() > deadline {
            return Err("timed out waiting for the model to load".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A model served by `weir models serve`'s router.
pub struct Served {
    pub app: Router,
    pub serving: Arc<Serving>,
    _cache: tempfile::TempDir,
}

pub async fn serve_uri(
    uri: &str,
    backend: BackendChoice,
    workers: usize,
    queue: usize,
    max_body: usize,
) -> (Served, Result<String, String>) {
    let cache = tempfile::tempdir().unwrap();
    let serving = Arc::new(
        Serving::new(
            &[uri.to_owned()],
            config(backend, workers, queue, cache.path()),
        )
        .unwrap(),
    );
    serving.start(Arc::new(weir::serving::source::NoSource), None);
    let loaded = wait_loaded(&serving.models[0]).await;
    let app = weir::app::serving_app(serving.clone(), max_body);
    (
        Served {
            app,
            serving,
            _cache: cache,
        },
        loaded,
    )
}

/// Serve `models/<name>` and wait until it is loaded.
pub async fn serve_model(name: &str, backend: BackendChoice) -> Served {
    let dir = models().join(name);
    let (s, loaded) = serve_uri(dir.to_str().unwrap(), backend, 2, 64, 16 << 20).await;
    loaded.unwrap_or_else(|e| panic!("{name} with {backend:?}: {e}"));
    s
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn call(
    app: &Router,
    method: &str,
    path: &str,
    ct: Option<&str>,
    body: impl Into<Body>,
) -> Reply {
    // A browser or client always sends Host; `weir server` refuses requests without one.
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(ct) = ct {
        b = b.header("content-type", ct);
    }
    let resp = app
        .clone()
        .oneshot(b.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 256 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn post_json(app: &Router, path: &str, body: &Value) -> Reply {
    call(
        app,
        "POST",
        path,
        Some("application/json"),
        body.to_string(),
    )
    .await
}

/// Equal JSON, numbers within `tol` (absolute or relative).
pub fn close(a: &Value, b: &Value, tol: f64) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs()))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b, tol))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| close(v, w, tol)))
        }
        _ => a == b,
    }
}

/// Leaves of nested arrays, row-major.
pub fn flatten(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.iter().flat_map(flatten).collect(),
        other => vec![other.clone()],
    }
}
