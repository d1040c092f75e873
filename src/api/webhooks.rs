//! `/api/2.0/mlflow/webhooks[/{id}[/test]]` (MLflow 3.3+), and Weir's delivery log for the UI.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::{empty, ok, Fields};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::webhooks::{Request, Webhooks};

fn webhooks(s: &AppState) -> Result<&Webhooks> {
    s.webhooks
        .as_ref()
        .ok_or_else(|| Error::not_found("Webhooks are not available on this server"))
}

/// A field MLflow treats as absent when empty (`request_message.name or None`).
fn non_empty(f: &Fields, k: &str) -> Result<Option<String>> {
    Ok(f.str(k)?.filter(|v| !v.is_empty()))
}

fn request(f: &Fields) -> Result<Request> {
    let events = match f.raw("events") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(a)) => Some(a.clone()),
        Some(v) => {
            return Err(Error::invalid(format!(
                "Invalid value {v} for parameter 'events' supplied: expected a list of events"
            )))
        }
    };
    Ok(Request {
        name: non_empty(f, "name")?,
        description: non_empty(f, "description")?,
        url: non_empty(f, "url")?,
        events,
        secret: non_empty(f, "secret")?,
        status: f.raw("status").filter(|v| !v.is_null()).cloned(),
    })
}

pub async fn create(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let hook = webhooks(&s)?.create(request(&f)?).await?;
    ok(json!({ "webhook": hook }))
}

pub async fn list(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let page = webhooks(&s)?
        .list(f.i64("max_results")?, f.str("page_token")?.as_deref())
        .await?;
    let mut out = json!({ "webhooks": page.items });
    if let Some(t) = page.next_page_token {
        out["next_page_token"] = json!(t);
    }
    ok(out)
}

pub async fn get(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    ok(json!({ "webhook": webhooks(&s)?.get(&id).await? }))
}

pub async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response> {
    let mut r = request(&f)?;
    // An empty list means "unchanged", as MLflow reads it.
    if r.events.as_ref().is_some_and(|e| e.is_empty()) {
        r.events = None;
    }
    ok(json!({ "webhook": webhooks(&s)?.update(&id, r).await? }))
}

pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    webhooks(&s)?.delete(&id).await?;
    Ok(empty())
}

pub async fn test(
    State(s): State<AppState>,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response> {
    let event = f.raw("event").filter(|v| !v.is_null()).cloned();
    let result = webhooks(&s)?.test(&id, event.as_ref()).await?;
    ok(json!({ "result": result }))
}

/// `GET /ajax-api/2.0/weir/webhooks/deliveries?name=<model>`: the newest deliveries of one
/// registered model's events (or of one webhook's), for the model page.
pub async fn deliveries(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let name = f.str("name")?;
    let webhook_id = f.str("webhook_id")?;
    let limit = f.i64("max_results")?.unwrap_or(50).clamp(1, 500);
    let list = webhooks(&s)?
        .store()
        .recent_deliveries(name.as_deref(), webhook_id.as_deref(), limit)
        .await?;
    ok(json!({ "deliveries": list }))
}
