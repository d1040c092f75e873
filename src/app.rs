//! Every route and layer of both roles, in one readable place: [`app`] is `weir server` (the
//! tracking and registry APIs, the artifact proxy, the UI, and in-process serving), and
//! [`serving_app`] is `weir models serve`.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};
use axum::Router;

use crate::api::serving::{self as scoring, HttpState};
use crate::api::{
    artifacts, auth, experiments, logged_models, meta, registry, runs, session, tokens, webhooks,
};
use crate::serving::Serving;
pub use crate::state::AppState;

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
        .route("/metrics/get-history-bulk", get(runs::get_history_bulk))
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
        // Registry webhooks (MLflow 3.3+).
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/webhooks/{webhook_id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/webhooks/{webhook_id}/test", post(webhooks::test))
        // The basic-auth app (answering 404 while it is off).
        .route("/users/create", post(auth::create_user))
        .route("/users/get", get(auth::get_user))
        .route("/users/current", get(auth::current_user))
        .route("/users/list", get(auth::list_users))
        .route("/users/update-password", patch(auth::update_password))
        .route("/users/update-admin", patch(auth::update_admin))
        .route("/users/delete", delete(auth::delete_user))
        .route(
            "/experiments/permissions/create",
            post(auth::legacy_permission),
        )
        .route("/experiments/permissions/get", get(auth::legacy_permission))
        .route(
            "/experiments/permissions/update",
            patch(auth::legacy_permission),
        )
        .route(
            "/experiments/permissions/delete",
            delete(auth::legacy_permission),
        )
        .route(
            "/registered-models/permissions/create",
            post(auth::legacy_permission),
        )
        .route(
            "/registered-models/permissions/get",
            get(auth::legacy_permission),
        )
        .route(
            "/registered-models/permissions/update",
            patch(auth::legacy_permission),
        )
        .route(
            "/registered-models/permissions/delete",
            delete(auth::legacy_permission),
        )
}

/// MLflow 3.17's grant API (under `/api/3.0/mlflow` and `/ajax-api/3.0/mlflow`).
fn mlflow_v3_routes() -> Router<AppState> {
    Router::new()
        .route("/users/permissions/grant", post(auth::grant))
        .route("/users/permissions/revoke", post(auth::revoke))
        .route("/users/permissions/get", get(auth::effective))
        .route("/server-info", get(meta::server_info))
}

/// Routes MLflow mounts only under `/ajax-api/2.0/mlflow`: the UI's own calls.
fn mlflow_ajax_routes() -> Router<AppState> {
    Router::new()
        .route("/upload-artifact", post(artifacts::upload_run_artifact))
        .route(
            "/logged-models/{model_id}/artifacts/files",
            get(logged_models::get_artifact),
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
        .route("/webhooks/deliveries", get(webhooks::deliveries))
        .route(
            "/registered-models/alias-history",
            get(registry::alias_history),
        )
        // What the UI shows and hides: who is signed in, their level on listed resources.
        .route("/session", get(session::session))
        .route("/permissions", get(session::permissions))
        // Personal access tokens of the basic-auth app (404 while it is off).
        .route("/users/tokens/create", post(tokens::create))
        .route("/users/tokens/list", get(tokens::list))
        .route("/users/tokens/revoke", post(tokens::revoke))
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
        .unwrap_or_else(|| Arc::new(Serving::empty()));
    let max_body = state.max_body_bytes;
    let security = state.security.clone();
    let access = state.auth.clone();
    let routes = Router::new()
        .nest("/api/2.0/mlflow", mlflow.clone())
        .nest("/ajax-api/2.0/mlflow", mlflow.merge(mlflow_ajax_routes()))
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
        .nest("/api/3.0/mlflow", mlflow_v3_routes())
        .nest("/ajax-api/3.0/mlflow", mlflow_v3_routes())
        .route("/", get(crate::ui::index))
        .route("/static/{*path}", get(crate::ui::asset))
        .route("/health", get(meta::health))
        .route("/version", get(meta::version))
        .route("/metrics", get(crate::telemetry::metrics_handler))
        .with_state(state)
        .merge(embedded_serving(serving, max_body))
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body));
    // Authentication and permissions (when on) run after the Host and origin checks.
    let routes = match access {
        Some(a) => routes.layer(axum::middleware::from_fn_with_state(
            (a, max_body),
            crate::auth::middleware::auth_layer,
        )),
        None => routes,
    };
    let routes = routes
        .layer(axum::middleware::from_fn_with_state(
            security,
            crate::api::guard::guard,
        ))
        .layer(axum::middleware::from_fn(crate::telemetry::track_http))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked));
    // Runs before routing: `//model-versions/get-artifact` reaches its route, as on MLflow.
    Router::new().fallback_service(tower::util::MapRequest::new(routes, collapse_slashes))
}

/// Routes whose path ends in a variable path (`{*path}`): slashes after these are the client's
/// artifact path, kept as sent (werkzeug merges slashes only outside variable parts), so
/// `artifacts//etc/passwd` stays an absolute path and is refused.
const VERBATIM_TAILS: &[&str] = &[
    "/artifacts/",
    "/mpu/create/",
    "/mpu/complete/",
    "/mpu/abort/",
    "/presigned/",
];

/// The path with each run of `/` made one, as werkzeug's `merge_slashes` matches routes: up to an
/// artifact route's variable part, which is kept as sent.
fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, c) in path.char_indices() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
        if c == '/' {
            let proxy = [
                "/api/2.0/mlflow-artifacts",
                "/ajax-api/2.0/mlflow-artifacts",
            ]
            .iter()
            .find_map(|p| out.strip_prefix(p));
            if proxy.is_some_and(|tail| VERBATIM_TAILS.contains(&tail)) {
                out.push_str(&path[i + 1..]);
                break;
            }
        }
    }
    out
}

/// The request with its path's slashes merged ([`merge_slashes`]).
fn collapse_slashes(mut req: axum::extract::Request) -> axum::extract::Request {
    let uri = req.uri();
    if !uri.path().contains("//") {
        return req;
    }
    let mut path = merge_slashes(uri.path());
    if let Some(q) = uri.query() {
        path.push('?');
        path.push_str(q);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = path.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
    req
}

/// A handler that panicked: 500 in MLflow's shape, the same on both roles.
fn panicked(_: Box<dyn std::any::Any + Send>) -> axum::response::Response {
    use axum::response::IntoResponse;
    crate::error::Error::internal("request handler panicked", "panic").into_response()
}

/// What `weir server` adds for serving: `served-models` always (the UI asks), the scoring and
/// KServe routes when `--serve-model` is given. Its own `/health`, `/version` and `/metrics` stay.
fn embedded_serving(serving: Arc<Serving>, max_body: usize) -> Router {
    let listing = Router::new()
        .route(
            "/ajax-api/2.0/weir/served-models",
            get(scoring::served_models),
        )
        .route("/api/2.0/weir/served-models", get(scoring::served_models));
    let router = if serving.models.is_empty() {
        listing
    } else {
        listing.merge(scoring::routes())
    };
    router.with_state(HttpState::new(serving, max_body))
}

/// The whole `weir models serve` router: MLflow's scoring server (`/invocations`, `/ping`,
/// `/health`, `/version`), KServe V1/V2 and `/metrics`, with FastAPI's 404/405 bodies.
pub fn serving_app(serving: Arc<Serving>, max_body: usize) -> Router {
    serving_app_with_token(serving, max_body, None)
}

/// [`serving_app`], with `--auth-token-file`'s token required on every route but the probes'.
pub fn serving_app_with_token(
    serving: Arc<Serving>,
    max_body: usize,
    token: Option<Arc<scoring::token::ScoringToken>>,
) -> Router {
    let state = HttpState::new(serving.clone(), max_body);
    let router = Router::new()
        .route("/ping", get(scoring::ping))
        .route("/health", get(scoring::ping))
        .route("/version", get(meta::version))
        .route("/metrics", get(crate::telemetry::metrics_handler))
        .route(
            "/ajax-api/2.0/weir/served-models",
            get(scoring::served_models),
        )
        .merge(scoring::routes())
        .fallback(scoring::not_found)
        .method_not_allowed_fallback(scoring::method_not_allowed)
        .with_state(state);
    let router = match token {
        Some(t) => router.layer(axum::middleware::from_fn_with_state(
            t,
            scoring::token::require,
        )),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn_with_state(
            serving,
            scoring::stamp_version,
        ))
        .layer(axum::middleware::from_fn(scoring::nosniff))
        .layer(axum::middleware::from_fn(crate::telemetry::track_http))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
}

#[cfg(test)]
mod tests {
    use super::merge_slashes;

    #[test]
    fn slashes_merge_outside_artifact_paths() {
        assert_eq!(
            merge_slashes("//model-versions/get-artifact"),
            "/model-versions/get-artifact"
        );
        assert_eq!(
            merge_slashes("//api/2.0/mlflow///experiments/get"),
            "/api/2.0/mlflow/experiments/get"
        );
        assert_eq!(
            merge_slashes("/api/2.0/mlflow-artifacts/artifacts//etc/passwd"),
            "/api/2.0/mlflow-artifacts/artifacts//etc/passwd"
        );
        assert_eq!(
            merge_slashes("//ajax-api//2.0/mlflow-artifacts//mpu/create//x//y"),
            "/ajax-api/2.0/mlflow-artifacts/mpu/create//x//y"
        );
        assert_eq!(merge_slashes("/a//b"), "/a/b");
    }
}
