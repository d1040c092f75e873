//! `/api/2.0/mlflow/registered-models/*` and `/model-versions/*`.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde::Serialize;
use serde_json::json;

use super::guard::Forwarded;
use super::{empty, ok, Fields};
use crate::artifacts::safe_path;
use crate::error::Result;
use crate::registry::NewVersionRequest;
use crate::state::AppState;
use crate::types::{KeyValue, SearchRequest, Visible};
use crate::types::{ModelVersion, RegisteredModel};

fn tag(f: &Fields) -> Result<KeyValue> {
    Ok(KeyValue::new(
        f.req_str("key")?,
        f.str("value")?.unwrap_or_default(),
    ))
}

pub async fn create_model(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let m = s
        .registry
        .create_registered_model(
            &f.req_str("name")?,
            f.str("description")?.as_deref(),
            &f.key_values("tags")?,
        )
        .await?;
    ok(json!({ "registered_model": m }))
}

pub async fn get_model(State(s): State<AppState>, f: Fields) -> Result<Response> {
    ok(json!({ "registered_model": s.registry.get_registered_model(&f.req_str("name")?).await? }))
}

pub async fn update_model(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let m = s
        .registry
        .update_registered_model(
            &f.req_str("name")?,
            &f.str("description")?.unwrap_or_default(),
        )
        .await?;
    ok(json!({ "registered_model": m }))
}

pub async fn rename_model(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let m = s
        .registry
        .rename_registered_model(&f.req_str("name")?, &f.req_str("new_name")?)
        .await?;
    ok(json!({ "registered_model": m }))
}

pub async fn delete_model(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.registry
        .delete_registered_model(&f.req_str("name")?)
        .await?;
    Ok(empty())
}

#[derive(Serialize)]
struct ModelsPage {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    registered_models: Vec<RegisteredModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// The search request, restricted to what the auth layer says the caller may read.
fn visible_request(f: &Fields, visible: Option<Extension<Visible>>) -> Result<SearchRequest> {
    let mut req = f.search_request()?;
    if let Some(Extension(v)) = visible {
        req.visible = v;
    }
    Ok(req)
}

pub async fn search_models(
    State(s): State<AppState>,
    visible: Option<Extension<Visible>>,
    f: Fields,
) -> Result<Response> {
    let p = s
        .registry
        .search_registered_models(&visible_request(&f, visible)?)
        .await?;
    ok(ModelsPage {
        registered_models: p.items,
        next_page_token: p.next_page_token,
    })
}

pub async fn set_model_tag(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.registry
        .set_registered_model_tag(&f.req_str("name")?, tag(&f)?)
        .await?;
    Ok(empty())
}

pub async fn delete_model_tag(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.registry
        .delete_registered_model_tag(&f.req_str("name")?, &f.req_str("key")?)
        .await?;
    Ok(empty())
}

#[derive(Serialize)]
struct VersionsPage {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    model_versions: Vec<ModelVersion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

pub async fn latest_versions(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let v = s
        .registry
        .latest_versions(&f.req_str("name")?, &f.str_list("stages")?)
        .await?;
    ok(VersionsPage {
        model_versions: v,
        next_page_token: None,
    })
}

pub async fn create_version(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let req = NewVersionRequest {
        name: f.req_str("name")?,
        source: f.req_str("source")?,
        has_run_id: f.raw("run_id").is_some(),
        has_model_id: f.raw("model_id").is_some(),
        run_id: f.str("run_id")?,
        model_id: f.str("model_id")?,
        tags: f.key_values("tags")?,
        description: f.str("description")?,
        run_link: f.str("run_link")?,
    };
    let v = s.registry.create_model_version(req).await?;
    ok(json!({ "model_version": v }))
}

pub async fn get_version(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let v = s
        .registry
        .get_model_version(&f.req_str("name")?, &f.req_str("version")?)
        .await?;
    ok(json!({ "model_version": v }))
}

pub async fn update_version(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let v = s
        .registry
        .update_model_version(
            &f.req_str("name")?,
            &f.req_str("version")?,
            &f.str("description")?.unwrap_or_default(),
        )
        .await?;
    ok(json!({ "model_version": v }))
}

pub async fn transition_stage(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let v = s
        .registry
        .transition_stage(
            &f.req_str("name")?,
            &f.req_str("version")?,
            &f.req_str("stage")?,
            f.bool("archive_existing_versions")?.unwrap_or(false),
        )
        .await?;
    ok(json!({ "model_version": v }))
}

pub async fn delete_version(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.registry
        .delete_model_version(&f.req_str("name")?, &f.req_str("version")?)
        .await?;
    Ok(empty())
}

pub async fn search_versions(
    State(s): State<AppState>,
    visible: Option<Extension<Visible>>,
    f: Fields,
) -> Result<Response> {
    let p = s
        .registry
        .search_model_versions(&visible_request(&f, visible)?)
        .await?;
    ok(VersionsPage {
        model_versions: p.items,
        next_page_token: p.next_page_token,
    })
}

pub async fn set_version_tag(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.registry
        .set_model_version_tag(&f.req_str("name")?, &f.req_str("version")?, tag(&f)?)
        .await?;
    Ok(empty())
}

pub async fn delete_version_tag(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.registry
        .delete_model_version_tag(
            &f.req_str("name")?,
            &f.req_str("version")?,
            &f.req_str("key")?,
        )
        .await?;
    Ok(empty())
}

pub async fn download_uri(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let uri = s
        .registry
        .download_uri(&f.req_str("name")?, &f.req_str("version")?)
        .await?;
    ok(json!({ "artifact_uri": uri }))
}

/// Who made a change, for the alias history: the user a trusted proxy authenticated.
pub async fn set_alias(State(s): State<AppState>, fwd: Forwarded, f: Fields) -> Result<Response> {
    s.registry
        .set_alias(
            &f.req_str("name")?,
            &f.req_str("alias")?,
            &f.req_str("version")?,
            fwd.user.as_deref(),
        )
        .await?;
    Ok(empty())
}

pub async fn delete_alias(
    State(s): State<AppState>,
    fwd: Forwarded,
    f: Fields,
) -> Result<Response> {
    s.registry
        .delete_alias(
            &f.req_str("name")?,
            &f.req_str("alias")?,
            fwd.user.as_deref(),
        )
        .await?;
    Ok(empty())
}

pub async fn get_by_alias(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let v = s
        .registry
        .get_version_by_alias(&f.req_str("name")?, &f.req_str("alias")?)
        .await?;
    ok(json!({ "model_version": v }))
}

/// Weir: every recorded move of a model's aliases.
pub async fn alias_history(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let events = s
        .registry
        .alias_history(&f.req_str("name")?, f.str("alias")?.as_deref())
        .await?;
    ok(json!({ "events": events }))
}

/// Weir: resolve a model URI the way the serving runtime does.
pub async fn resolve(State(s): State<AppState>, f: Fields) -> Result<Response> {
    ok(s.registry.resolve(&f.req_str("model_uri")?).await?)
}

/// `GET /model-versions/get-artifact?path&name&version`: a version's file, for the UI.
pub async fn get_version_artifact(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let name = f.req_str("name")?;
    let version = f.req_str("version")?;
    let sub = safe_path(&f.req_str("path")?)?;
    let r = s
        .registry
        .resolve(&format!(
            "models:/{name}/{}",
            crate::registry::parse_version(&version)?
        ))
        .await?;
    let (repo, base) = s.artifacts.resolve(&r.artifact_uri).await?;
    super::artifacts::download(repo.as_ref(), &base.join(&sub)).await
}
