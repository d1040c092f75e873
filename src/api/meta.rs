//! Health, version, server info, and the 404/405 pages MLflow's server answers with.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// The MLflow version whose REST protocol Weir speaks (what `/version` answers).
pub const MLFLOW_COMPAT_VERSION: &str = "3.17.2";

/// `GET /health`: 200 `OK` once the store answers, 503 otherwise.
pub async fn health(State(s): State<AppState>) -> Response {
    if s.shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    match s.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "OK",
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("backend store unavailable: {}", e.message),
        )
            .into_response(),
    }
}

pub async fn version() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                header::HeaderName::from_static("x-weir-version"),
                env!("CARGO_PKG_VERSION"),
            ),
        ],
        MLFLOW_COMPAT_VERSION,
    )
        .into_response()
}

/// `GET /api/3.0/mlflow/server-info`: what the 3.x client probes before transfers.
pub async fn server_info(State(s): State<AppState>) -> Response {
    axum::Json(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": s.multipart_uploads_enabled(),
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "features_enabled": { "gateway": false },
        "weir_version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

pub async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    // `weir server --serve-model` mounts KServe's routes: their clients read `{"error"}`.
    if crate::api::serving::is_kserve_path(uri.path()) {
        return crate::api::serving::kserve_no_route(StatusCode::NOT_FOUND, &method, uri.path());
    }
    (
        StatusCode::NOT_FOUND,
        Html(
            "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n",
        ),
    )
        .into_response()
}

pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    if crate::api::serving::is_kserve_path(uri.path()) {
        return crate::api::serving::kserve_no_route(
            StatusCode::METHOD_NOT_ALLOWED,
            &method,
            uri.path(),
        );
    }
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Html(
            "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n",
        ),
    )
        .into_response()
}
