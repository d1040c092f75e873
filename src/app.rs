//! `app(state) -> Router`: every route and layer of `weir server`, in one readable place.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};
use axum::Router;

use crate::api::{artifacts, experiments, logged_models, meta, registry, runs};
use crate::artifacts::Artifacts;
use crate::registry::Registry;
use crate::store::SqlStore;
use crate::tracking::Tracking;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<SqlStore>,
    pub tracking: Tracking,
    pub registry: Registry,
    pub artifacts: Artifacts,
    /// Bumped on every alias change, so in-process model serving reloads at once.
    pub alias_moves: tokio::sync::watch::Sender<u64>,
    /// Largest JSON body accepted.
    pub max_body_bytes: usize,
    /// Set when SIGTERM arrives, so readiness turns 503 before the listener closes.
    shutting_down: Arc<AtomicBool>,
    /// Models served in-process (`--serve-model`); also answers the UI's `served-models`.
    pub serving: Option<Arc<crate::serving::Serving>>,
    /// Allowed hosts and origins, security headers, trusted proxies.
    pub security: Arc<crate::api::security::Policy>,
    /// Longest a (non-streaming) API request may take.
    pub request_timeout: std::time::Duration,
}

impl axum::extract::FromRef<AppState> for Arc<crate::api::security::Policy> {
    fn from_ref(s: &AppState) -> Self {
        s.security.clone()
    }
}

impl AppState {
    pub fn new(
        store: Arc<SqlStore>,
        artifacts: Artifacts,
        default_artifact_root: String,
        max_body_bytes: usize,
    ) -> Self {
        let tracking = Tracking::new(store.clone(), default_artifact_root);
        let registry = Registry::new(store.clone(), store.clone(), artifacts.clone());
        AppState {
            store,
            tracking,
            registry,
            artifacts,
            alias_moves: tokio::sync::watch::channel(0).0,
            max_body_bytes,
            shutting_down: Arc::new(AtomicBool::new(false)),
            serving: None,
            security: Arc::new(crate::api::security::Policy::default()),
            request_timeout: std::time::Duration::from_secs(60),
        }
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        if let Some(s) = &self.serving {
            s.begin_shutdown();
        }
    }

    pub fn notify_alias_moved(&self) {
        self.alias_moves.send_modify(|n| *n += 1);
    }

    /// Multipart uploads work on every proxied destination (local parts or S3 parts).
    pub fn multipart_uploads_enabled(&self) -> bool {
        self.artifacts.proxied.is_some()
    }
}

/// MLflow's tracking endpoints (mounted under `/api/2.0/mlflow` and `/ajax-api/2.0/mlflow`).
fn mlflow_routes() -> Router<AppState> {
    Router::new()
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route(
            "/experiments/search",
            get(experiments::search).post(experiments::search),
        )
        .route("/experiments/update", post(experiments::update))
        .route("/experiments/delete", post(experiments::delete))
        .route("/experiments/restore", post(experiments::restore))
        .route(
            "/experiments/set-experiment-tag",
            post(experiments::set_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(experiments::delete_tag),
        )
        .route("/runs/create", post(runs::create))
        .route("/runs/get", get(runs::get))
        .route("/runs/update", post(runs::update))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route("/runs/log-parameter", post(runs::log_parameter))
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/runs/log-batch", post(runs::log_batch))
        .route("/runs/log-inputs", post(runs::log_inputs))
        .route("/runs/outputs", post(runs::log_outputs))
        .route("/runs/log-model", post(runs::log_model))
        .route("/runs/search", post(runs::search))
        .route("/metrics/get-history", get(runs::get_history))
        .route(
            "/metrics/get-history-bulk-interval",
            get(runs::get_history_bulk_interval),
        )
        .route("/artifacts/list", get(artifacts::list_run_artifacts))
        .route("/registered-models/create", post(registry::create_model))
        .route("/registered-models/get", get(registry::get_model))
        .route("/registered-models/update", patch(registry::update_model))
        .route("/registered-models/rename", post(registry::rename_model))
        .route("/registered-models/delete", delete(registry::delete_model))
        .route("/registered-models/search", get(registry::search_models))
        .route("/registered-models/set-tag", post(registry::set_model_tag))
        .route(
            "/registered-models/delete-tag",
            delete(registry::delete_model_tag),
        )
        .route(
            "/registered-models/get-latest-versions",
            post(registry::latest_versions).get(registry::latest_versions),
        )
        .route(
            "/registered-models/alias",
            post(registry::set_alias)
                .get(registry::get_by_alias)
                .delete(registry::delete_alias),
        )
        .route("/model-versions/create", post(registry::create_version))
        .route("/model-versions/get", get(registry::get_version))
        .route("/model-versions/update", patch(registry::update_version))
        .route("/model-versions/delete", delete(registry::delete_version))
        .route("/model-versions/search", get(registry::search_versions))
        .route("/model-versions/set-tag", post(registry::set_version_tag))
        .route(
            "/model-versions/delete-tag",
            delete(registry::delete_version_tag),
        )
        .route(
            "/model-versions/transition-stage",
            post(registry::transition_stage),
        )
        .route(
            "/model-versions/get-download-uri",
            get(registry::download_uri),
        )
        .route("/logged-models", post(logged_models::create))
        .route("/logged-models/search", post(logged_models::search))
        .route(
            "/logged-models/{model_id}",
            get(logged_models::get)
                .patch(logged_models::finalize)
                .delete(logged_models::delete),
        )
        .route(
            "/logged-models/{model_id}/tags",
            patch(logged_models::set_tags),
        )
        .route(
            "/logged-models/{model_id}/tags/{key}",
            delete(logged_models::delete_tag),
        )
        .route(
            "/logged-models/{model_id}/params",
            post(logged_models::log_params),
        )
        .route(
            "/logged-models/{model_id}/artifacts/directories",
            get(logged_models::list_artifacts),
        )
}

/// The artifact proxy (mounted under `/api/2.0/mlflow-artifacts` and its `/ajax-api` mirror).
fn artifact_routes() -> Router<AppState> {
    Router::new()
        .route("/artifacts", get(artifacts::list))
        .route(
            "/artifacts/{*path}",
            get(artifacts::get)
                .put(artifacts::put)
                .delete(artifacts::delete),
        )
        .route("/mpu/create/{*path}", post(artifacts::mpu_create))
        .route("/mpu/complete/{*path}", post(artifacts::mpu_complete))
        .route("/mpu/abort/{*path}", post(artifacts::mpu_abort))
        .route("/mpu/part", axum::routing::put(artifacts::mpu_part))
        .route("/presigned/{*path}", get(artifacts::presigned))
}

/// Weir's own UI helpers (under `/ajax-api/2.0/weir`).
fn weir_routes() -> Router<AppState> {
    Router::new()
        .route("/metrics/downsample", get(runs::downsample))
        .route("/models/resolve", get(registry::resolve))
        .route(
            "/registered-models/alias-history",
            get(registry::alias_history),
        )
}

/// A request that runs past `timeout` is answered 504 (and its handler dropped).
async fn deadline(
    axum::extract::State(timeout): axum::extract::State<std::time::Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => crate::error::Error::timed_out(timeout).into_response(),
    }
}

/// The whole `weir server` router.
pub fn app(state: AppState) -> Router {
    let timed = axum::middleware::from_fn_with_state(state.request_timeout, deadline);
    let mlflow = mlflow_routes().route_layer(timed.clone());
    let serving = state
        .serving
        .clone()
        .unwrap_or_else(|| Arc::new(crate::serving::Serving::empty()));
    let max_body = state.max_body_bytes;
    let security = state.security.clone();
    Router::new()
        .nest("/api/2.0/mlflow", mlflow.clone())
        .nest("/ajax-api/2.0/mlflow", mlflow)
        .nest(
            "/ajax-api/2.0/weir",
            weir_routes().route_layer(timed.clone()),
        )
        .nest("/api/2.0/weir", weir_routes().route_layer(timed))
        .nest("/api/2.0/mlflow-artifacts", artifact_routes())
        .nest("/ajax-api/2.0/mlflow-artifacts", artifact_routes())
        .route("/get-artifact", get(artifacts::get_run_artifact))
        .route(
            "/model-versions/get-artifact",
            get(registry::get_version_artifact),
        )
        .route("/api/3.0/mlflow/server-info", get(meta::server_info))
        .route("/ajax-api/3.0/mlflow/server-info", get(meta::server_info))
        .route("/", get(crate::ui::index))
        .route("/static/{*path}", get(crate::ui::asset))
        .route("/health", get(meta::health))
        .route("/version", get(meta::version))
        .route("/metrics", get(crate::telemetry::metrics_handler))
        .with_state(state)
        .merge(crate::serving::http::embedded_routes(serving, max_body))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            security,
            crate::api::security::guard,
        ))
        .layer(axum::middleware::from_fn(crate::telemetry::track_http))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            crate::error::Error::internal("request handler panicked", "panic").into_response()
        }))
}
