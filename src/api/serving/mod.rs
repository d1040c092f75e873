//! Model serving over HTTP, for both roles: MLflow's scoring protocol ([`mlflow`]), KServe V1
//! and V2 ([`kserve`]), readiness (`/ping`, `/health`) and `served-models` for the web UI. Thin
//! handlers: read the body (bounded), take an admission place, decode (pure, off the executor
//! when large), infer on the worker pool, encode (pure), all within `--request-timeout`.
//! [`crate::app`] mounts these routes in `weir models serve` and in `weir server --serve-model`.

pub mod error;
pub mod kserve;
pub mod mlflow;
pub mod token;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use serde_json::json;

use crate::serving::codec::{self as decode, DecodeError};
use crate::serving::metrics::metrics;
use crate::serving::{LoadedModel, ServedModel, Serving};
use error::json_response;
pub use error::ScoreError;

/// Bodies above this size are decoded on a blocking thread, not the async executor.
const DECODE_INLINE_MAX: usize = 256 * 1024;

/// The header every scoring response carries.
pub const VERSION_HEADER: &str = "x-weir-model-version";

/// What the scoring handlers reach: the served models and the request bounds. The gRPC service
/// ([`crate::api::grpc`]) holds the same, so both protocols share one set of limits.
#[derive(Clone)]
pub struct HttpState {
    pub serving: Arc<Serving>,
    /// Largest accepted request body.
    pub max_body: usize,
    /// Longest one scoring request may take, body included.
    pub timeout: std::time::Duration,
    /// The token scoring calls must present (`--auth-token-file`); `None`: open.
    pub token: Option<Arc<token::ScoringToken>>,
}

impl HttpState {
    /// The scoring state of `serving`, with its `--request-timeout` and `--max-body-bytes`.
    pub fn new(serving: Arc<Serving>, max_body: usize) -> HttpState {
        HttpState {
            timeout: serving.config.request_timeout,
            serving,
            max_body,
            token: None,
        }
    }

    /// The same, requiring `token` on scoring calls.
    pub fn with_token(mut self, token: Option<Arc<token::ScoringToken>>) -> HttpState {
        self.token = token;
        self
    }
}

/// The label unknown model names are counted under, so `/metrics` does not grow with whatever
/// names clients send.
pub(crate) const UNKNOWN_MODEL: &str = "__unknown__";

/// Count one scoring request in the serving metrics: `status` is the HTTP status, or the gRPC
/// code's name on gRPC routes; `name` a served name or [`UNKNOWN_MODEL`].
pub(crate) fn record(
    route: &str,
    name: &str,
    version: Option<&str>,
    started: Instant,
    status: &str,
) {
    let m = metrics();
    m.requests
        .with_label_values(&[route, name, version.unwrap_or(""), status])
        .inc();
    m.request_seconds
        .with_label_values(&[route, name])
        .observe(started.elapsed().as_secs_f64());
}

/// Record the request in the serving metrics and stamp the served version.
fn finish(
    route: &str,
    name: &str,
    version: Option<&str>,
    started: Instant,
    mut resp: Response,
) -> Response {
    record(route, name, version, started, resp.status().as_str());
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        resp.headers_mut().insert(VERSION_HEADER, v);
    }
    resp
}

/// Read a request body of at most `limit` bytes into one buffer, sized once from
/// Content-Length when the client sends it (growing by doubling would hold twice the body).
async fn read_body(req: Request, limit: usize) -> Result<Bytes, ScoreError> {
    use http_body_util::BodyExt;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ScoreError::TooLarge(limit));
    }
    let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0));
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ScoreError::BadRequest(format!("cannot read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(ScoreError::TooLarge(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Run a pure decoder, on a blocking thread when the body is large.
async fn decode_off_executor<T, F>(
    bytes: Bytes,
    model: &Arc<LoadedModel>,
    f: F,
) -> Result<T, ScoreError>
where
    T: Send + 'static,
    F: FnOnce(&[u8], &decode::Schema) -> Result<T, DecodeError> + Send + 'static,
{
    off_executor(bytes.len(), model, move |schema| f(&bytes, schema)).await
}

/// Run `decode` over `size` bytes of input against the model's schema: inline when small, on a
/// blocking thread when large (decoding megabytes would stall the executor's other requests).
pub(crate) async fn off_executor<T, F>(
    size: usize,
    model: &Arc<LoadedModel>,
    decode: F,
) -> Result<T, ScoreError>
where
    T: Send + 'static,
    F: FnOnce(&decode::Schema) -> Result<T, DecodeError> + Send + 'static,
{
    if size <= DECODE_INLINE_MAX {
        return Ok(decode(&model.schema)?);
    }
    let model = model.clone();
    tokio::task::spawn_blocking(move || decode(&model.schema))
        .await
        .map_err(|e| ScoreError::BadRequest(format!("decoding failed: {e}")))?
        .map_err(ScoreError::from)
}

pub(crate) fn current(served: &ServedModel) -> Result<Arc<LoadedModel>, ScoreError> {
    served
        .current()
        .ok_or_else(|| ScoreError::Unavailable(served.not_ready_reason()))
}

/// Run `work` within the request timeout.
pub(crate) async fn deadline<T>(
    h: &HttpState,
    work: impl std::future::Future<Output = Result<T, ScoreError>>,
) -> Result<T, ScoreError> {
    tokio::time::timeout(h.timeout, work)
        .await
        .unwrap_or(Err(ScoreError::Timeout(h.timeout)))
}

/// Admit the request, decode it (off the executor when large) and run it on the pool. The
/// admission place is held from decoding to the answer, and freed if the client goes away.
async fn admit_decode_infer(
    model: &Arc<LoadedModel>,
    bytes: Bytes,
    decoder: fn(&[u8], &decode::Schema) -> Result<Vec<crate::serving::tensor::Tensor>, DecodeError>,
) -> Result<Vec<crate::serving::tensor::Value>, ScoreError> {
    let permit = model.admit()?;
    let inputs = decode_off_executor(bytes, model, decoder).await?;
    Ok(model.infer(permit, inputs).await?)
}

/// `GET /ping` and `/health` of `weir models serve`: readiness, as MLflow's scoring server
/// (200 with a newline body once loaded), 503 saying why before.
pub async fn ping(State(h): State<HttpState>) -> Response {
    if h.serving.is_shutting_down() {
        return ScoreError::Unavailable("shutting down".into()).mlflow();
    }
    let not_ready: Vec<String> = h
        .serving
        .models
        .iter()
        .filter(|m| m.current().is_none())
        .map(|m| m.not_ready_reason())
        .collect();
    if !not_ready.is_empty() {
        return ScoreError::Unavailable(not_ready.join("; ")).mlflow();
    }
    // A failed reload while the previous version serves: still ready, and the detail says so.
    let notes: Vec<String> = h
        .serving
        .models
        .iter()
        .filter_map(|m| m.status().message.map(|msg| format!("{}: {msg}", m.name)))
        .collect();
    if notes.is_empty() {
        json_response(StatusCode::OK, "\n")
    } else {
        (StatusCode::OK, format!("{}\n", notes.join("\n"))).into_response()
    }
}

/// `GET /ajax-api/2.0/weir/served-models`: what the web UI shows.
pub async fn served_models(State(h): State<HttpState>) -> Response {
    let models: Vec<serde_json::Value> = h
        .serving
        .models
        .iter()
        .map(|m| {
            let status = m.status();
            let cur = m.current();
            let mut o = json!({
                "name": m.name,
                "model_uri": m.model.display(),
                "status": status.state,
            });
            if let Some(c) = &cur {
                o["version"] = json!(c.version);
                o["backend"] = json!(c.backend.as_str());
            }
            if let Some(msg) = status.message {
                o["message"] = json!(msg);
            }
            o
        })
        .collect();
    json_response(StatusCode::OK, json!({ "models": models }).to_string())
}

/// The scoring routes both roles mount: MLflow scoring, KServe V1 and V2.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/invocations", post(mlflow::invocations))
        .route(
            "/models/{name}/invocations",
            post(mlflow::named_invocations),
        )
        .route("/v1/models", get(kserve::v1_list))
        .route(
            "/v1/models/{name}",
            get(kserve::v1_model).post(kserve::v1_predict),
        )
        .route("/v2", get(kserve::v2_server))
        .route("/v2/health/live", get(kserve::v2_live))
        .route("/v2/health/ready", get(kserve::v2_ready))
        .route("/v2/models/{name}", get(kserve::v2_meta))
        .route("/v2/models/{name}/ready", get(kserve::v2_model_ready))
        .route("/v2/models/{name}/infer", post(kserve::v2_infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(kserve::v2_meta_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(kserve::v2_model_ready_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(kserve::v2_infer_version),
        )
}

/// Whether `path` belongs to KServe's protocols (V2, and V1's `/v1/models`), whose clients
/// decode error bodies as `{"error": "..."}`.
pub fn is_kserve_path(path: &str) -> bool {
    path == "/v2"
        || path.starts_with("/v2/")
        || path == "/v1/models"
        || path.starts_with("/v1/models/")
}

/// A KServe-shaped answer for a path or method no route has: `{"error": "..."}`, as KServe's
/// and Triton's V2 clients expect (they cannot decode FastAPI's `{"detail": ...}`).
pub fn kserve_no_route(status: StatusCode, method: &axum::http::Method, path: &str) -> Response {
    let what = if status == StatusCode::METHOD_NOT_ALLOWED {
        format!("method {method} is not allowed on {path}")
    } else {
        format!("no such route: {method} {path}")
    };
    json_response(status, serde_json::json!({ "error": what }).to_string())
}

/// 404: FastAPI's body, as `mlflow models serve` answers, except on KServe's paths.
pub async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    if is_kserve_path(uri.path()) {
        return kserve_no_route(StatusCode::NOT_FOUND, &method, uri.path());
    }
    json_response(StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#)
}

/// 405: FastAPI's body, except on KServe's paths.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    if is_kserve_path(uri.path()) {
        return kserve_no_route(StatusCode::METHOD_NOT_ALLOWED, &method, uri.path());
    }
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        r#"{"detail":"Method Not Allowed"}"#,
    )
}

/// Stamp `x-weir-model-version` on responses that did not set it (health, metrics, errors),
/// when one model is served and loaded.
pub async fn stamp_version(
    State(serving): State<Arc<Serving>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    if !resp.headers().contains_key(VERSION_HEADER) {
        if let [one] = serving.models.as_slice() {
            if let Some(v) = one
                .current()
                .and_then(|m| HeaderValue::from_str(&m.version).ok())
            {
                resp.headers_mut().insert(VERSION_HEADER, v);
            }
        }
    }
    resp
}

/// `X-Content-Type-Options: nosniff` on every answer.
pub async fn nosniff(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
