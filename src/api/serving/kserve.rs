//! KServe's protocols: V1 (`/v1/models/<name>[:predict]`) and V2, the Open Inference Protocol
//! (`/v2`, health, model metadata and readiness, `/v2/models/<name>[/versions/<v>]/infer`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::error::{json_response, unknown_model, ScoreError};
use super::{
    admit_decode_infer, current, deadline, decode_off_executor, finish, read_body, HttpState,
    UNKNOWN_MODEL, VERSION_HEADER,
};
use crate::serving::codec::{self as decode, encode, kserve, DecodeError};
use crate::serving::{LoadedModel, ServedModel};

/// KServe V1's body: `{"instances": [...]}` (or `inputs`).
pub(super) fn decode_v1(
    b: &[u8],
    schema: &decode::Schema,
) -> Result<Vec<crate::serving::tensor::Tensor>, DecodeError> {
    let body = schema.parse_json(b).map_err(|e| match e {
        crate::serving::codec::json::ParseError::TooManyValues(n) => DecodeError::BadRequest(format!(
            "the request holds more than {n} values; at most {} rows are accepted per request (--max-rows)",
            schema.max_rows
        )),
        crate::serving::codec::json::ParseError::Syntax(e) => DecodeError::BadRequest(format!("invalid JSON: {e}")),
    })?;
    let value = body
        .get("instances")
        .or_else(|| body.get("inputs"))
        .ok_or_else(|| {
            DecodeError::BadRequest("the body needs 'instances' (or 'inputs')".into())
        })?;
    decode::decode_instances(value, schema)
}

// ---- KServe V1 ----

pub(super) async fn v1_list(State(h): State<HttpState>) -> Response {
    let names: Vec<&str> = h.serving.models.iter().map(|m| m.name.as_str()).collect();
    json_response(StatusCode::OK, json!({ "models": names }).to_string())
}

pub(super) async fn v1_model(State(h): State<HttpState>, Path(name): Path<String>) -> Response {
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
pub(super) async fn v1_predict(
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

/// The protocol extensions `GET /v2` advertises.
pub const EXTENSIONS: &[&str] = &["binary_tensor_data"];

/// The binary extension's header: the length of the JSON part of a body.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

pub(super) async fn v2_server() -> Response {
    json_response(
        StatusCode::OK,
        json!({"name": "weir", "version": env!("CARGO_PKG_VERSION"), "extensions": EXTENSIONS})
            .to_string(),
    )
}

pub(super) async fn v2_live() -> Response {
    json_response(StatusCode::OK, json!({"live": true}).to_string())
}

pub(super) async fn v2_ready(State(h): State<HttpState>) -> Response {
    let ready = h.serving.all_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, json!({ "ready": ready }).to_string())
}

/// The served model named `name`, loaded, at `version` when one is asked for.
pub(crate) fn v2_model(
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

/// Refuse a request for an output the model does not have.
pub(crate) fn check_outputs(model: &LoadedModel, wanted: &[String]) -> Result<(), ScoreError> {
    match wanted
        .iter()
        .find(|n| !model.outputs.iter().any(|s| s.name == **n))
    {
        None => Ok(()),
        Some(unknown) => Err(ScoreError::BadRequest(format!(
            "unknown output '{unknown}' (the model's outputs: {})",
            model
                .outputs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub(super) async fn v2_metadata(h: HttpState, name: String, version: Option<String>) -> Response {
    match v2_model(&h, &name, version.as_deref()) {
        Ok((_, m)) => {
            let io = |specs: &[crate::serving::tensor::Spec]| -> Vec<serde_json::Value> {
                specs
                    .iter()
                    .map(|s| {
                        let (datatype, shape) = s.kserve();
                        json!({"name": s.name, "datatype": datatype, "shape": shape})
                    })
                    .collect()
            };
            let platform = m.backend.platform();
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

pub(super) async fn v2_meta(State(h): State<HttpState>, Path(name): Path<String>) -> Response {
    v2_metadata(h, name, None).await
}

pub(super) async fn v2_meta_version(
    State(h): State<HttpState>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    v2_metadata(h, name, Some(version)).await
}

/// Whether `name` (at `version`, when given) answers requests; an unknown name is an error.
pub(crate) fn model_ready(
    h: &HttpState,
    name: &str,
    version: Option<&str>,
) -> Result<bool, ScoreError> {
    if h.serving.find(name).is_none() {
        return Err(unknown_model(name));
    }
    Ok(!h.serving.is_shutting_down() && v2_model(h, name, version).is_ok())
}

pub(super) async fn v2_model_ready_inner(
    h: HttpState,
    name: String,
    version: Option<String>,
) -> Response {
    let ready = match model_ready(&h, &name, version.as_deref()) {
        Ok(ready) => ready,
        Err(e) => return e.kserve(),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, json!({"name": name, "ready": ready}).to_string())
}

pub(super) async fn v2_model_ready(
    State(h): State<HttpState>,
    Path(name): Path<String>,
) -> Response {
    v2_model_ready_inner(h, name, None).await
}

pub(super) async fn v2_model_ready_version(
    State(h): State<HttpState>,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    v2_model_ready_inner(h, name, Some(version)).await
}

pub(super) async fn v2_infer_inner(
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
    let header_len = match req
        .headers()
        .get(HEADER_LENGTH)
        .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<usize>().ok()))
    {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => {
            let e = ScoreError::BadRequest(
                "Inference-Header-Content-Length must be a byte count".into(),
            );
            return finish(
                ROUTE,
                &served.name,
                Some(&model.version),
                started,
                e.kserve(),
            );
        }
    };
    let result = deadline(&h, async {
        let bytes = read_body(req, h.max_body).await?;
        let permit = model.admit()?;
        let decoded = decode_off_executor(bytes, &model, move |b, s| {
            kserve::decode_infer_with(b, header_len, s)
        })
        .await?;
        if let Some(wanted) = &decoded.outputs {
            check_outputs(&model, wanted)?;
        }
        let outputs = model.infer(permit, decoded.inputs).await?;
        let binary = &decoded.binary;
        Ok(encode::kserve_v2_response(
            &model.name,
            &model.version,
            decoded.id.as_deref(),
            &model.outputs,
            &outputs,
            decoded.outputs.as_deref(),
            &|name| binary.is_binary(name),
        ))
    })
    .await;
    let resp = match result {
        Ok(encode::V2Response {
            body,
            json_len: None,
        }) => json_response(StatusCode::OK, body),
        Ok(encode::V2Response {
            body,
            json_len: Some(n),
        }) => {
            let mut r = Response::new(axum::body::Body::from(body));
            let hs = r.headers_mut();
            hs.insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            hs.insert(HEADER_LENGTH, HeaderValue::from(n));
            r
        }
        Err(e) => e.kserve(),
    };
    finish(ROUTE, &served.name, Some(&model.version), started, resp)
}

pub(super) async fn v2_infer(
    State(h): State<HttpState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    v2_infer_inner(h, name, None, req).await
}

pub(super) async fn v2_infer_version(
    State(h): State<HttpState>,
    Path((name, version)): Path<(String, String)>,
    req: Request,
) -> Response {
    v2_infer_inner(h, name, Some(version), req).await
}
