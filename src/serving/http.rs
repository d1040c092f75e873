//! HTTP: the MLflow scoring protocol (`/invocations`, `/ping`, `/health`, `/version`), KServe V1
//! and V2, and `served-models` for the web UI. Thin handlers: read the body, decode (pure),
//! infer on the worker pool, encode (pure).
//!
//! [`standalone_router`] is `weir models serve`; [`embedded_routes`] is what `weir server
//! --serve-model` adds to the tracking server (its own `/health`, `/version` and `/metrics` stay).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use serde_json::json;

use super::decode::{self, DecodeError};
use super::encode;
use super::kserve;
use super::metrics::metrics;
use super::model::LoadedModel;
use super::pool::InferError;
use super::served::{ServedModel, Serving};

/// Bodies above this size are decoded on a blocking thread, not the async executor.
const DECODE_INLINE_MAX: usize = 256 * 1024;

/// The header every scoring response carries.
pub const VERSION_HEADER: &str = "x-weir-model-version";

#[derive(Clone)]
pub struct HttpState {
    pub serving: Arc<Serving>,
    /// Largest accepted request body.
    pub max_body: usize,
    /// Longest one scoring request may take, body included.
    pub timeout: std::time::Duration,
}

/// The label unknown model names are counted under, so `/metrics` does not grow with whatever
/// names clients send.
const UNKNOWN_MODEL: &str = "__unknown__";

/// Why a scoring request failed, in the shapes MLflow's scoring server (and KServe) answer.
#[derive(Debug)]
pub enum ScoreError {
    /// Malformed input: 400 `BAD_REQUEST`.
    BadRequest(String),
    /// Input that does not fit the model: 400 `INVALID_PARAMETER_VALUE` / `SCHEMA_ENFORCEMENT_FAILED`.
    Schema(String),
    /// The engine failed on the input: 400, as MLflow answers a failing `predict`.
    Predict(String),
    /// 415 in plain text, as MLflow.
    UnsupportedType(String),
    TooLarge(usize),
    /// Not ready, saturated or shutting down: 503 with `Retry-After`.
    Unavailable(String),
    NotFound(String),
    /// Past `--request-timeout`: 504.
    Timeout(std::time::Duration),
}

impl From<DecodeError> for ScoreError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::BadRequest(m) => ScoreError::BadRequest(m),
            DecodeError::Schema(m) => ScoreError::Schema(m),
        }
    }
}

impl From<InferError> for ScoreError {
    fn from(e: InferError) -> Self {
        match e {
            InferError::Saturated => ScoreError::Unavailable(
                "The model server is at capacity (every inference worker is busy and the queue is full); retry shortly.".into(),
            ),
            InferError::Closed => {
                ScoreError::Unavailable("The model is being unloaded; retry.".into())
            }
            InferError::Failed(m) => ScoreError::Predict(m),
        }
    }
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

fn with_retry_after(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

impl ScoreError {
    fn status(&self) -> StatusCode {
        match self {
            ScoreError::BadRequest(_) | ScoreError::Schema(_) | ScoreError::Predict(_) => {
                StatusCode::BAD_REQUEST
            }
            ScoreError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ScoreError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ScoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ScoreError::NotFound(_) => StatusCode::NOT_FOUND,
            ScoreError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn message(&self) -> String {
        match self {
            ScoreError::BadRequest(m)
            | ScoreError::Schema(m)
            | ScoreError::UnsupportedType(m)
            | ScoreError::Unavailable(m)
            | ScoreError::NotFound(m) => m.clone(),
            ScoreError::Predict(m) => format!(
                "Encountered an unexpected error while evaluating the model. Verify that the input is compatible with the model for inference. Error: {m}"
            ),
            ScoreError::TooLarge(limit) => {
                format!("The request body is larger than the limit of {limit} bytes (--max-body-bytes).")
            }
            ScoreError::Timeout(after) => format!(
                "The request did not complete within {}s (--request-timeout).",
                after.as_secs()
            ),
        }
    }

    /// MLflow's error body: `{"error_code", "message", "sqlstate", "error_class"}`.
    pub fn mlflow(self) -> Response {
        let status = self.status();
        let message = self.message();
        let (code, sqlstate, class) = match &self {
            ScoreError::BadRequest(_) | ScoreError::Predict(_) => {
                ("BAD_REQUEST", "KAM00", "INVALID_PARAMETER_VALUE")
            }
            ScoreError::Schema(_) => (
                "INVALID_PARAMETER_VALUE",
                "KAM01",
                "SCHEMA_ENFORCEMENT_FAILED",
            ),
            ScoreError::UnsupportedType(_) => {
                return (
                    status,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    )],
                    message,
                )
                    .into_response()
            }
            ScoreError::TooLarge(_) => {
                ("REQUEST_LIMIT_EXCEEDED", "KAM00", "REQUEST_LIMIT_EXCEEDED")
            }
            ScoreError::Unavailable(_) => (
                "TEMPORARILY_UNAVAILABLE",
                "KAM00",
                "TEMPORARILY_UNAVAILABLE",
            ),
            ScoreError::NotFound(_) => ("RESOURCE_DOES_NOT_EXIST", "KAM00", "RESOURCE_NOT_FOUND"),
            ScoreError::Timeout(_) => ("DEADLINE_EXCEEDED", "KAM00", "DEADLINE_EXCEEDED"),
        };
        let body = json!({"error_code": code, "message": message, "sqlstate": sqlstate, "error_class": class});
        let r = json_response(status, body.to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            with_retry_after(r)
        } else {
            r
        }
    }

    /// KServe's error body: `{"error": "..."}`.
    pub fn kserve(self) -> Response {
        let status = self.status();
        let r = json_response(status, json!({"error": self.message()}).to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            with_retry_after(r)
        } else {
            r
        }
    }
}

/// Record the request in the serving metrics and stamp the served version.
fn finish(
    route: &str,
    name: &str,
    version: Option<&str>,
    started: Instant,
    mut resp: Response,
) -> Response {
    let m = metrics();
    m.requests
        .with_label_values(&[route, name, version.unwrap_or(""), resp.status().as_str()])
        .inc();
    m.request_seconds
        .with_label_values(&[route, name])
        .observe(started.elapsed().as_secs_f64());
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
async fn decode_off_executor<T: Send + 'static>(
    bytes: Bytes,
    model: &Arc<LoadedModel>,
    f: fn(&[u8], &decode::Schema) -> Result<T, DecodeError>,
) -> Result<T, ScoreError> {
    if bytes.len() <= DECODE_INLINE_MAX {
        return Ok(f(&bytes, &model.schema)?);
    }
    let model = model.clone();
    tokio::task::spawn_blocking(move || f(&bytes, &model.schema))
        .await
        .map_err(|e| ScoreError::BadRequest(format!("decoding failed: {e}")))?
        .map_err(ScoreError::from)
}

fn current(served: &ServedModel) -> Result<Arc<LoadedModel>, ScoreError> {
    served
        .current()
        .ok_or_else(|| ScoreError::Unavailable(served.not_ready_reason()))
}

enum Format {
    Json,
    Csv,
}

fn format_of(headers: &HeaderMap) -> Result<Format, ScoreError> {
    const SUPPORTED: &str = "This predictor only supports the following content types: Types: ['text/csv', 'application/json'].";
    let Some(raw) = headers.get(header::CONTENT_TYPE) else {
        return Err(ScoreError::UnsupportedType(format!(
            "{SUPPORTED} Got no Content-Type header."
        )));
    };
    let raw = raw.to_str().unwrap_or("");
    let mime = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(Format::Json),
        "text/csv" => Ok(Format::Csv),
        "application/vnd.apache.parquet" => Err(ScoreError::UnsupportedType(format!(
            "{SUPPORTED} Got '{mime}': Weir does not read Parquet; send JSON or CSV."
        ))),
        _ => Err(ScoreError::UnsupportedType(format!(
            "{SUPPORTED} Got '{mime}'."
        ))),
    }
}

/// Run `work` within the request timeout.
async fn deadline<T>(
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
    decoder: fn(&[u8], &decode::Schema) -> Result<Vec<super::tensor::Tensor>, DecodeError>,
) -> Result<Vec<super::tensor::Value>, ScoreError> {
    let permit = model.admit()?;
    let inputs = decode_off_executor(bytes, model, decoder).await?;
    Ok(model.infer(permit, inputs).await?)
}

/// `POST /invocations` on one served model.
async fn score(h: &HttpState, served: &ServedModel, route: &str, req: Request) -> Response {
    let started = Instant::now();
    let model = match current(served) {
        Ok(m) => m,
        Err(e) => return finish(route, &served.name, None, started, e.mlflow()),
    };
    let result = deadline(h, async {
        let format = format_of(req.headers())?;
        let bytes = read_body(req, h.max_body).await?;
        let decoder = match format {
            Format::Json => decode::decode_json,
            Format::Csv => decode::decode_csv,
        };
        let outputs = admit_decode_infer(&model, bytes, decoder).await?;
        Ok::<_, ScoreError>(encode::mlflow_predictions(&model.outputs, &outputs))
    })
    .await;
    let resp = match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => e.mlflow(),
    };
    finish(route, &model.name, Some(&model.version), started, resp)
}

/// KServe V1's body: `{"instances": [...]}` (or `inputs`).
fn decode_v1(b: &[u8], schema: &decode::Schema) -> Result<Vec<super::tensor::Tensor>, DecodeError> {
    let body = schema.parse_json(b).map_err(|e| match e {
        super::json::ParseError::TooManyValues(n) => DecodeError::BadRequest(format!(
            "the request holds more than {n} values; at most {} rows are accepted per request (--max-rows)",
            schema.max_rows
        )),
        super::json::ParseError::Syntax(e) => DecodeError::BadRequest(format!("invalid JSON: {e}")),
    })?;
    let value = body
        .get("instances")
        .or_else(|| body.get("inputs"))
        .ok_or_else(|| {
            DecodeError::BadRequest("the body needs 'instances' (or 'inputs')".into())
        })?;
    decode::decode_instances(value, schema)
}

async fn invocations(State(h): State<HttpState>, req: Request) -> Response {
    match h.serving.models.as_slice() {
        [one] => score(&h, one, "/invocations", req).await,
        many => {
            let paths: Vec<String> = many
                .iter()
                .map(|m| format!("/models/{}/invocations", m.name))
                .collect();
            ScoreError::BadRequest(format!(
                "This server serves several models; POST to one of {}",
                paths.join(", ")
            ))
            .mlflow()
        }
    }
}

fn unknown_model(name: &str) -> ScoreError {
    ScoreError::NotFound(format!("Model with name {name} does not exist."))
}

async fn named_invocations(
    State(h): State<HttpState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    match h.serving.find(&name) {
        Some(m) => score(&h, m, "/models/{name}/invocations", req).await,
        None => unknown_model(&name).mlflow(),
    }
}

/// `GET /ping` and `/health` of `weir models serve`: readiness, as MLflow's scoring server
/// (200 with a newline body once loaded), 503 saying why before.
async fn ping(State(h): State<HttpState>) -> Response {
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

// ---- KServe V1 ----

async fn v1_list(State(h): State<HttpState>) -> Response {
    let names: Vec<&str> = h.serving.models.iter().map(|m| m.name.as_str()).collect();
    json_response(StatusCode::OK, json!({ "models": names }).to_string())
}

async fn v1_model(State(h): State<HttpState>, Path(name): Path<String>) -> Response {
    let Some(m) = h.serving.find(&name) else {
        return unknown_model(&name).kserve();
    };
    let ready = m.current().is_some() && !h.serving.is_shutting_down();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, json!({"name": m.name, "ready": ready}).to_string())
}

/// `POST /v1/models/<name>:predict` with `{"instances": [...]}` (or `inputs`).
async fn v1_predict(
    State(h): State<HttpState>,
    Path(name_verb): Path<String>,
    req: Request,
) -> Response {
    let started = Instant::now();
    const ROUTE: &str = "/v1/models/{name}:predict";
    let Some(name) = name_verb.strip_suffix(":predict") else {
        return ScoreError::NotFound(format!(
            "Unknown verb in '{name_verb}': only /v1/models/<name>:predict is supported"
        ))
        .kserve();
    };
    let Some(served) = h.serving.find(name) else {
        return unknown_model(name).kserve();
    };
    let model = match current(served) {
        Ok(m) => m,
        Err(e) => return finish(ROUTE, &served.name, None, started, e.kserve()),
    };
    let result = deadline(&h, async {
        let bytes = read_body(req, h.max_body).await?;
        let outputs = admit_decode_infer(&model, bytes, decode_v1).await?;
        Ok::<_, ScoreError>(encode::kserve_v1_predictions(&model.outputs, &outputs))
    })
    .await;
    let resp = match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => e.kserve(),
    };
    finish(ROUTE, &model.name, Some(&model.version), started, resp)
}

// ---- KServe V2 (Open Inference Protocol) ----

async fn v2_server() -> Response {
    json_response(
        StatusCode::OK,
        json!({"name": "weir", "version": env!("CARGO_PKG_VERSION"), "extensions": []}).to_string(),
    )
}

async fn v2_live() -> Response {
    json_response(StatusCode::OK, json!({"live": true}).to_string())
}

async fn v2_ready(State(h): State<HttpState>) -> Response {
    let ready = h.serving.all_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, json!({ "ready": ready }).to_string())
}

/// The served model named `name`, loaded, at `version` when one is asked for.
fn v2_model(
    h: &HttpState,
    name: &str,
    version: Option<&str>,
) -> Result<(Arc<ServedModel>, Arc<LoadedModel>), ScoreError> {
    let served = h.serving.find(name).ok_or_else(|| unknown_model(name))?;
    let model = current(served)?;
    if let Some(v) = version.filter(|v| *v != model.version) {
        return Err(ScoreError::NotFound(format!(
            "Model {name} version {v} is not served (serving version {})",
            model.version
        )));
    }
    Ok((served.clone(), model))
}

async fn v2_metadata(h: HttpState, name: String, version: Option<String>) -> Response {
    match v2_model(&h, &name, version.as_deref()) {
        Ok((_, m)) => {
            let io = |specs: &[super::tensor::Spec]| -> Vec<serde_json::Value> {
                specs
                    .iter()
                    .map(|s| {
                        let (datatype, shape) = s.kserve();
                        json!({"name": s.name, "datatype": datatype, "shape": shape})
                    })
                    .collect()
            };
            let platform = match m.backend {
                super::backend::BackendKind::Ort => "onnxruntime_onnx",
                super::backend::BackendKind::Tract => "tract_onnx",
            };
            let body = json!({
                "name": m.name,
                "versions": [m.version],
                "platform": platform,
                "inputs": io(&m.schema.inputs),
                "outputs": io(&m.outputs),
            });
            let mut r = json_response(StatusCode::OK, body.to_string());
            if let Ok(v) = HeaderValue::from_str(&m.version) {
                r.headers_mut().insert(VERSION_HEADER, v);
            }
            r
        }
        Err(e) => e.kserve(),
    }
}

async fn v2_meta(State(h): State<HttpState>, Path(name): Path<String>) -> Response {
    v2_metadata(h, name, None).await
}

async fn v2_meta_version(
    State(h): State<HttpState>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    v2_metadata(h, name, Some(version)).await
}

async fn v2_model_ready_inner(h: HttpState, name: String, version: Option<String>) -> Response {
    if h.serving.find(&name).is_none() {
        return unknown_model(&name).kserve();
    }
    let ready = !h.serving.is_shutting_down() && v2_model(&h, &name, version.as_deref()).is_ok();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, json!({"name": name, "ready": ready}).to_string())
}

async fn v2_model_ready(State(h): State<HttpState>, Path(name): Path<String>) -> Response {
    v2_model_ready_inner(h, name, None).await
}

async fn v2_model_ready_version(
    State(h): State<HttpState>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    v2_model_ready_inner(h, name, Some(version)).await
}

async fn v2_infer_inner(
    h: HttpState,
    name: String,
    version: Option<String>,
    req: Request,
) -> Response {
    const ROUTE: &str = "/v2/models/{name}/infer";
    let started = Instant::now();
    let (served, model) = match v2_model(&h, &name, version.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            // Only served names become metric labels.
            let label = h
                .serving
                .find(&name)
                .map_or(UNKNOWN_MODEL, |m| m.name.as_str());
            return finish(ROUTE, label, None, started, e.kserve());
        }
    };
    let result = deadline(&h, async {
        let bytes = read_body(req, h.max_body).await?;
        let permit = model.admit()?;
        let decoded = decode_off_executor(bytes, &model, kserve::decode_infer).await?;
        if let Some(unknown) = decoded.outputs.as_ref().and_then(|w| {
            w.iter()
                .find(|n| !model.outputs.iter().any(|s| s.name == **n))
        }) {
            return Err(ScoreError::BadRequest(format!(
                "unknown output '{unknown}' (the model's outputs: {})",
                model
                    .outputs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let outputs = model.infer(permit, decoded.inputs).await?;
        Ok(encode::kserve_v2_response(
            &model.name,
            &model.version,
            decoded.id.as_deref(),
            &model.outputs,
            &outputs,
            decoded.outputs.as_deref(),
        ))
    })
    .await;
    let resp = match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => e.kserve(),
    };
    finish(ROUTE, &served.name, Some(&model.version), started, resp)
}

async fn v2_infer(State(h): State<HttpState>, Path(name): Path<String>, req: Request) -> Response {
    v2_infer_inner(h, name, None, req).await
}

async fn v2_infer_version(
    State(h): State<HttpState>,
    Path((name, version)): Path<(String, String)>,
    req: Request,
) -> Response {
    v2_infer_inner(h, name, Some(version), req).await
}

/// `GET /ajax-api/2.0/weir/served-models`: what the web UI shows.
async fn served_models(State(h): State<HttpState>) -> Response {
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

/// Routes shared by both roles: scoring, KServe V1 and V2.
fn scoring_routes() -> Router<HttpState> {
    Router::new()
        .route("/invocations", post(invocations))
        .route("/models/{name}/invocations", post(named_invocations))
        .route("/v1/models", get(v1_list))
        .route("/v1/models/{name}", get(v1_model).post(v1_predict))
        .route("/v2", get(v2_server))
        .route("/v2/health/live", get(v2_live))
        .route("/v2/health/ready", get(v2_ready))
        .route("/v2/models/{name}", get(v2_meta))
        .route("/v2/models/{name}/ready", get(v2_model_ready))
        .route("/v2/models/{name}/infer", post(v2_infer))
        .route("/v2/models/{name}/versions/{version}", get(v2_meta_version))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(v2_model_ready_version),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(v2_infer_version),
        )
}

/// What `weir server` mounts: `served-models` always (the UI asks), the scoring and KServe routes
/// when `--serve-model` is given.
pub fn embedded_routes(serving: Arc<Serving>, max_body: usize) -> Router {
    let timeout = serving.config.request_timeout;
    let listing = Router::new()
        .route("/ajax-api/2.0/weir/served-models", get(served_models))
        .route("/api/2.0/weir/served-models", get(served_models));
    let router = if serving.models.is_empty() {
        listing
    } else {
        listing.merge(scoring_routes())
    };
    router.with_state(HttpState {
        serving,
        max_body,
        timeout,
    })
}

/// FastAPI's 404/405 bodies, as `mlflow models serve` answers.
async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, r#"{"detail":"Not Found"}"#)
}

async fn method_not_allowed() -> Response {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        r#"{"detail":"Method Not Allowed"}"#,
    )
}

/// Stamp `x-weir-model-version` on responses that did not set it (health, metrics, errors),
/// when one model is served and loaded.
async fn stamp_version(State(serving): State<Arc<Serving>>, req: Request, next: Next) -> Response {
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
async fn nosniff(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The whole `weir models serve` router.
pub fn standalone_router(serving: Arc<Serving>, max_body: usize) -> Router {
    let state = HttpState {
        serving: serving.clone(),
        max_body,
        timeout: serving.config.request_timeout,
    };
    Router::new()
        .route("/ping", get(ping))
        .route("/health", get(ping))
        .route("/version", get(crate::api::meta::version))
        .route("/metrics", get(crate::telemetry::metrics_handler))
        .route("/ajax-api/2.0/weir/served-models", get(served_models))
        .merge(scoring_routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(serving, stamp_version))
        .layer(axum::middleware::from_fn(nosniff))
        .layer(axum::middleware::from_fn(crate::telemetry::track_http))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ScoreError::Predict("request handler panicked".into()).mlflow()
        }))
}
