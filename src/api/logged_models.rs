//! `/api/2.0/mlflow/logged-models/*` (MLflow 3).

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::json;

use super::{empty, ok, Fields};
use crate::error::{Error, Result};
use crate::registry::LoggedModelQuery;
use crate::search::OrderBy;
use crate::state::AppState;
use crate::types::LoggedModel;

pub async fn create(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let m = s
        .registry
        .create_logged_model(
            &f.req_str("experiment_id")?,
            f.str("name")?,
            f.str("source_run_id")?,
            f.str("model_type")?,
            f.key_values("params")?,
            f.key_values("tags")?,
        )
        .await?;
    ok(json!({ "model": m }))
}

pub async fn get(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    ok(json!({ "model": s.registry.store.get_logged_model(&id).await? }))
}

pub async fn finalize(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response> {
    let m = s
        .registry
        .finalize_logged_model(&id, &f.req_str("status")?)
        .await?;
    ok(json!({ "model": m }))
}

pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    s.registry.store.delete_logged_model(&id).await?;
    Ok(empty())
}

pub async fn set_tags(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response> {
    let tags = f.key_values("tags")?;
    for t in &tags {
        crate::tracking::validation::tag(t)?;
    }
    s.registry.store.set_logged_model_tags(&id, &tags).await?;
    Ok(empty())
}

pub async fn delete_tag(
    State(s): State<AppState>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response> {
    s.registry.store.delete_logged_model_tag(&id, &key).await?;
    Ok(empty())
}

pub async fn log_params(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response> {
    let params = f.key_values("params")?;
    for p in &params {
        crate::tracking::validation::param(p)?;
    }
    s.registry
        .store
        .log_logged_model_params(&id, &params)
        .await?;
    Ok(empty())
}

#[derive(Serialize)]
struct SearchResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    models: Vec<LoggedModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// `order_by` comes as `[{field_name, ascending}]` objects here.
fn order_by(f: &Fields) -> Result<Vec<OrderBy>> {
    f.obj_list("order_by")?
        .iter()
        .map(|o| {
            let mut ob = crate::search::parse_order_by(&o.req_str("field_name")?)?;
            ob.ascending = o.bool("ascending")?.unwrap_or(true);
            Ok(ob)
        })
        .collect()
}

pub async fn search(
    State(s): State<AppState>,
    visible: Option<axum::Extension<crate::types::Visible>>,
    f: Fields,
) -> Result<Response> {
    let p = s
        .registry
        .search_logged_models(LoggedModelQuery {
            experiment_ids: f.str_list("experiment_ids")?,
            filter: f.str("filter")?,
            datasets: f
                .obj_list("datasets")?
                .iter()
                .map(|d| Ok((d.str("dataset_name")?, d.str("dataset_digest")?)))
                .collect::<Result<_>>()?,
            order_by: order_by(&f)?,
            max_results: f.i64("max_results")?,
            page_token: f.str("page_token")?,
            visible: visible.map(|v| v.0).unwrap_or_default(),
        })
        .await?;
    ok(SearchResponse {
        models: p.items,
        next_page_token: p.next_page_token,
    })
}

/// `GET /logged-models/{id}/artifacts/directories?artifact_directory_path=`: list a model's files.
pub async fn list_artifacts(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response> {
    let m = s.registry.store.get_logged_model(&id).await?;
    let sub = crate::artifacts::safe_path(&f.str("artifact_directory_path")?.unwrap_or_default())?;
    let (repo, base) = s.artifacts.resolve(&m.info.artifact_uri).await?;
    let files = super::artifacts::relative_to(repo.list(&base.join(&sub)).await?, &sub);
    if files.is_empty() {
        return Ok(empty());
    }
    ok(json!({ "root_uri": m.info.artifact_uri, "files": files }))
}

/// `GET /ajax-api/2.0/mlflow/logged-models/{id}/artifacts/files?artifact_file_path=`: one file
/// of a logged model, as a download (the UI's model page).
pub async fn get_artifact(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response> {
    let file = f
        .str("artifact_file_path")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            Error::bad_request("Request must include the \"artifact_file_path\" query parameter.")
        })?;
    let file = crate::artifacts::safe_path(&file)?;
    let m = s.registry.store.get_logged_model(&id).await?;
    let (repo, base) = s.artifacts.resolve(&m.info.artifact_uri).await?;
    super::artifacts::download(repo.as_ref(), &base.join(&file)).await
}
