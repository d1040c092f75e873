//! `/api/2.0/mlflow/experiments/*`.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde::Serialize;
use serde_json::json;

use super::{empty, ok, Fields};
use crate::error::Result;
use crate::state::AppState;
use crate::types::{Experiment, KeyValue, ViewType, Visible};

pub async fn create(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let name = f.req_str("name")?;
    let tags = f.key_values("tags")?;
    let id = s
        .tracking
        .create_experiment(&name, f.str("artifact_location")?.as_deref(), &tags)
        .await?;
    ok(json!({ "experiment_id": id }))
}

pub async fn get(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let e = s
        .tracking
        .get_experiment(&f.req_str("experiment_id")?)
        .await?;
    ok(json!({ "experiment": e }))
}

pub async fn get_by_name(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let e = s
        .tracking
        .get_experiment_by_name(&f.req_str("experiment_name")?)
        .await?;
    ok(json!({ "experiment": e }))
}

#[derive(Serialize)]
struct SearchResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    experiments: Vec<Experiment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

pub async fn search(
    State(s): State<AppState>,
    visible: Option<Extension<Visible>>,
    f: Fields,
) -> Result<Response> {
    let view = ViewType::parse(f.enum_str("view_type")?.as_deref())?;
    let mut req = f.search_request()?;
    if let Some(Extension(v)) = visible {
        req.visible = v;
    }
    let page = s.tracking.search_experiments(view, &req).await?;
    ok(SearchResponse {
        experiments: page.items,
        next_page_token: page.next_page_token,
    })
}

pub async fn update(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let id = f.req_str("experiment_id")?;
    if let Some(name) = f.str("new_name")? {
        s.tracking.rename_experiment(&id, &name).await?;
    } else {
        s.tracking.get_experiment(&id).await?;
    }
    Ok(empty())
}

pub async fn delete(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.tracking
        .delete_experiment(&f.req_str("experiment_id")?)
        .await?;
    Ok(empty())
}

pub async fn restore(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.tracking
        .restore_experiment(&f.req_str("experiment_id")?)
        .await?;
    Ok(empty())
}

pub async fn set_tag(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let tag = KeyValue::new(f.req_str("key")?, f.str("value")?.unwrap_or_default());
    s.tracking
        .set_experiment_tag(&f.req_str("experiment_id")?, tag)
        .await?;
    Ok(empty())
}

pub async fn delete_tag(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.tracking
        .delete_experiment_tag(&f.req_str("experiment_id")?, &f.req_str("key")?)
        .await?;
    Ok(empty())
}
