//! The basic-auth middleware of `weir server`: authenticate, check the route's [`Rule`], run the
//! handler, then apply the route's [`After`] (the creator's MANAGE grant, search answers
//! filtered to what the caller may read). Answers are MLflow's: 401 with
//! `WWW-Authenticate: Basic realm="mlflow"`, 403 `Permission denied`.
//!
//! Searches are filtered in the query, not after it: the middleware hands the handler a
//! [`Visible`] condition (from the caller's grants and the default permission), so each page
//! holds up to `max_results` readable items and page tokens neither skip nor repeat one. The
//! answer is still filtered afterwards, as a second fence.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::rules::{rule, After, Param, Rule};
use super::{Auth, Identity, Need, Permission};
use crate::error::{Error, Result};
use crate::store::auth::Grantable;
use crate::types::Visible;

/// MLflow's 401.
pub fn unauthenticated() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, "Basic realm=\"mlflow\""),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "You are not authenticated. Please see \
         https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow \
         on how to authenticate.",
    )
        .into_response()
}

/// MLflow's 403.
pub fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Permission denied",
    )
        .into_response()
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::RETRY_AFTER, "60"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "Too many failed sign-in attempts; retry in a minute.",
    )
        .into_response()
}

/// A request's parameters as MLflow's `_get_request_param` sees them: the query string, and the
/// JSON body of POST, PATCH and DELETE.
struct Params {
    query: Vec<(String, String)>,
    body: Option<Value>,
}

impl Params {
    fn get(&self, key: &str) -> Option<String> {
        if let Some(v) = self.body.as_ref().and_then(|b| b.get(key)) {
            return match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
        }
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn all(&self, key: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect();
        if let Some(Value::Array(a)) = self.body.as_ref().and_then(|b| b.get(key)) {
            out.extend(a.iter().filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }));
        }
        out
    }

    fn require(&self, key: &str) -> Result<String> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| {
            Error::invalid(format!(
                "Missing value for required parameter '{key}'. See the API docs for more \
                 information about request parameters."
            ))
        })
    }
}

/// Read the JSON body (bounded) and put the bytes back for the handler.
async fn take_json(req: Request, limit: usize) -> Result<(Request, Option<Value>)> {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Error::new(
            crate::error::ErrorCode::RequestTooLarge,
            format!("The request body is larger than {limit} bytes."),
        )
    })?;
    let json = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object);
    Ok((Request::from_parts(parts, Body::from(bytes)), json))
}

/// The `Authorization` username, for the rate limiter (before the password is checked); none
/// for a bearer token (limited by address only).
fn claimed_username(header: &[u8]) -> Option<String> {
    super::parse_basic(header).map(|(u, _)| u)
}

/// The whole middleware.
pub async fn auth_layer(
    State((auth, max_body)): State<(Arc<Auth>, usize)>,
    req: Request,
    next: Next,
) -> Response {
    let (rule, after) = rule(req.method(), req.uri().path(), auth.public_metrics);
    if rule == Rule::Open {
        return next.run(req).await;
    }
    let Some(header) = req.headers().get(header::AUTHORIZATION).cloned() else {
        return unauthenticated();
    };
    let addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let claimed = claimed_username(header.as_bytes());
    if auth.limiter.is_blocked(claimed.as_deref(), addr) {
        return too_many();
    }
    let who = match auth.authenticate(header.as_bytes()).await {
        Ok(Some(who)) => {
            auth.limiter.record_success(&who.username);
            who
        }
        Ok(None) => {
            auth.limiter.record_failure(claimed.as_deref(), addr);
            tracing::info!(user = claimed.as_deref().unwrap_or(""), "failed sign-in");
            return unauthenticated();
        }
        Err(e) => return e.into_response(),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    match check(&auth, &who, rule, req, max_body).await {
        Ok(Some(mut req)) => {
            req.extensions_mut().insert(who.clone());
            if let Some(on) = after.filters().filter(|_| !who.is_admin) {
                match visible(&auth, &who, on).await {
                    Ok(v) => {
                        req.extensions_mut().insert(v);
                    }
                    Err(e) => return e.into_response(),
                }
            }
            let resp = next.run(req).await;
            tracing::debug!(user = who.username, %method, path, status = resp.status().as_u16(), "request");
            follow_up(&auth, &who, after, resp).await
        }
        Ok(None) => {
            tracing::info!(user = who.username, %method, path, "permission denied");
            forbidden()
        }
        Err(e) => e.into_response(),
    }
}

/// Whether `who` may make this request: `Some(request)` (possibly with its body rebuilt and,
/// for `runs/create`, the caller recorded as the run's user), `None` for 403.
async fn check(
    auth: &Auth,
    who: &Identity,
    rule: Rule,
    req: Request,
    max_body: usize,
) -> Result<Option<Request>> {
    let path = req.uri().path().to_owned();
    let creates_run = req.method() == Method::POST && path.ends_with("/mlflow/runs/create");
    if rule == Rule::SignedIn || (who.is_admin && !creates_run) {
        return Ok(Some(req));
    }
    if rule == Rule::Admin {
        return Ok(who.is_admin.then_some(req));
    }
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let reads_body = matches!(*req.method(), Method::POST | Method::PATCH | Method::DELETE)
        && !matches!(
            rule,
            Rule::On(Param::ArtifactPath | Param::LoggedModelInPath, _)
        )
        && (is_json || !path.ends_with("/upload-artifact"));
    let (mut req, body) = if reads_body {
        take_json(req, max_body).await?
    } else {
        (req, None)
    };
    let params = Params { query, body };
    if creates_run {
        req = record_run_user(req, &params, who)?;
        if who.is_admin {
            return Ok(Some(req));
        }
    }
    let allowed = match rule {
        Rule::Open | Rule::SignedIn => true,
        Rule::Admin => who.is_admin,
        Rule::SelfOrAdmin => {
            who.is_admin || params.get("username").as_deref() == Some(&who.username)
        }
        Rule::ManageGrantTarget => {
            let (on, id) = grant_target(&path, &params)?;
            may(auth, who, on, &id, Need::Manage).await?
        }
        Rule::On(param, need) => on_param(auth, who, param, need, &path, &params).await?,
    };
    Ok(allowed.then_some(req))
}

/// The resource a grant request names.
fn grant_target(path: &str, params: &Params) -> Result<(Grantable, String)> {
    if path.contains("/experiments/permissions/") {
        return Ok((Grantable::Experiment, params.require("experiment_id")?));
    }
    if path.contains("/registered-models/permissions/") {
        return Ok((Grantable::RegisteredModel, params.require("name")?));
    }
    let id = params.require("resource_id")?;
    Ok((
        Grantable::from_resource_type(&params.require("resource_type")?)?,
        id,
    ))
}

/// `need` on a resource that must exist (a non-admin learns nothing about what does not).
async fn may(auth: &Auth, who: &Identity, on: Grantable, id: &str, need: Need) -> Result<bool> {
    let exists = match on {
        Grantable::Experiment => match id.parse::<i64>() {
            Ok(n) => auth.store().experiment_exists(n).await?,
            Err(_) => false,
        },
        Grantable::RegisteredModel => auth.store().registered_model_exists(id).await?,
    };
    Ok(exists && auth.permission(who, on, id).await?.can(need))
}

async fn run_allows(auth: &Auth, who: &Identity, run_id: &str, need: Need) -> Result<bool> {
    match auth.store().experiment_of_run(run_id).await? {
        Some(exp) => Ok(auth
            .permission(who, Grantable::Experiment, &exp.to_string())
            .await?
            .can(need)),
        None => Ok(false),
    }
}

async fn on_param(
    auth: &Auth,
    who: &Identity,
    param: Param,
    need: Need,
    path: &str,
    params: &Params,
) -> Result<bool> {
    match param {
        Param::ExperimentId => {
            may(
                auth,
                who,
                Grantable::Experiment,
                &params.require("experiment_id")?,
                need,
            )
            .await
        }
        Param::ExperimentName => {
            let name = params.require("experiment_name")?;
            match auth.store().experiment_id_by_name(&name).await? {
                Some(id) => may(auth, who, Grantable::Experiment, &id.to_string(), need).await,
                None => Ok(false),
            }
        }
        Param::RunId => {
            let id = params
                .get("run_id")
                .filter(|v| !v.is_empty())
                .or_else(|| params.get("run_uuid"))
                .ok_or_else(|| Error::invalid("Missing value for required parameter 'run_id'."))?;
            run_allows(auth, who, &id, need).await
        }
        Param::RunIds => {
            let mut ids = params.all("run_id");
            ids.extend(params.all("run_ids"));
            for id in ids {
                if !run_allows(auth, who, &id, need).await? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Param::ExperimentIds => {
            for id in params.all("experiment_ids") {
                if !may(auth, who, Grantable::Experiment, &id, need).await? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Param::ModelName => {
            may(
                auth,
                who,
                Grantable::RegisteredModel,
                &params.require("name")?,
                need,
            )
            .await
        }
        Param::LoggedModelInPath => {
            let id = path
                .split("/logged-models/")
                .nth(1)
                .and_then(|t| t.split('/').next())
                .unwrap_or("");
            match auth.store().experiment_of_logged_model(id).await? {
                Some(exp) => Ok(auth
                    .permission(who, Grantable::Experiment, &exp.to_string())
                    .await?
                    .can(need)),
                None => Ok(false),
            }
        }
        Param::ArtifactPath => {
            let raw = artifact_path(path)
                .or_else(|| params.get("path"))
                .unwrap_or_default();
            let decoded = percent_encoding::percent_decode_str(&raw).decode_utf8_lossy();
            if decoded.contains('%') {
                // Encoded twice: what names an experiment here could name another after a
                // second decoding. Refused rather than guessed.
                return Ok(false);
            }
            let first = decoded
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("");
            if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
                Ok(auth
                    .permission(who, Grantable::Experiment, first)
                    .await?
                    .can(need))
            } else {
                // No experiment named: MLflow falls back to the default permission.
                Ok(auth.default_permission.can(need))
            }
        }
        Param::ModelUri => {
            let uri = params.require("model_uri")?;
            if let Some(rest) = uri.strip_prefix("models:/") {
                let name: String = rest
                    .chars()
                    .take_while(|c| *c != '/' && *c != '@')
                    .collect();
                if name.starts_with("m-") && !rest[name.len()..].starts_with(['/', '@']) {
                    return match auth.store().experiment_of_logged_model(&name).await? {
                        Some(exp) => Ok(auth
                            .permission(who, Grantable::Experiment, &exp.to_string())
                            .await?
                            .can(need)),
                        None => Ok(false),
                    };
                }
                may(auth, who, Grantable::RegisteredModel, &name, need).await
            } else if let Some(rest) = uri.strip_prefix("runs:/") {
                let run = rest.trim_start_matches('/').split('/').next().unwrap_or("");
                run_allows(auth, who, run, need).await
            } else {
                Ok(who.is_admin)
            }
        }
    }
}

/// The artifact path in a proxy route (`.../artifacts/<path>`, `mpu/<op>/<path>`,
/// `presigned/<path>`).
fn artifact_path(path: &str) -> Option<String> {
    for marker in [
        "/artifacts/",
        "/mpu/create/",
        "/mpu/complete/",
        "/mpu/abort/",
        "/presigned/",
    ] {
        if let Some((_, p)) = path.split_once(marker) {
            return Some(p.to_owned());
        }
    }
    None
}

/// `runs/create`: the authenticated user is the run's user when the client named none.
fn record_run_user(req: Request, params: &Params, who: &Identity) -> Result<Request> {
    let Some(mut body) = params.body.clone() else {
        return Ok(req);
    };
    let Some(obj) = body.as_object_mut() else {
        return Ok(req);
    };
    if obj
        .get("user_id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        obj.insert("user_id".into(), Value::String(who.username.clone()));
    }
    let tags = obj
        .entry("tags")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(tags) = tags {
        let named = tags
            .iter()
            .any(|t| t.get("key").and_then(Value::as_str) == Some("mlflow.user"));
        if !named {
            tags.push(serde_json::json!({"key": "mlflow.user", "value": who.username}));
        }
    }
    let bytes = serde_json::to_vec(&body).map_err(|e| Error::internal("re-encoding a body", e))?;
    let (mut parts, _) = req.into_parts();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// What follows a successful request.
async fn follow_up(auth: &Auth, who: &Identity, after: After, resp: Response) -> Response {
    if after == After::Nothing || resp.status() != StatusCode::OK {
        return resp;
    }
    let filtering = after.filters().is_some();
    if filtering && who.is_admin {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 256 << 20).await else {
        return Error::internal("reading an answer", "too large").into_response();
    };
    let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let result = match after {
        After::GrantExperiment => match json.get("experiment_id").and_then(Value::as_str) {
            Some(id) => {
                auth.store()
                    .auth_set_grant(
                        Grantable::Experiment,
                        id,
                        who.id,
                        Permission::Manage.as_str(),
                    )
                    .await
            }
            None => Ok(()),
        },
        After::GrantModel => match json
            .get("registered_model")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => {
                auth.store()
                    .auth_set_grant(
                        Grantable::RegisteredModel,
                        name,
                        who.id,
                        Permission::Manage.as_str(),
                    )
                    .await
            }
            None => Ok(()),
        },
        After::FilterExperiments => {
            filter(
                auth,
                who,
                &mut json,
                "experiments",
                Grantable::Experiment,
                "/experiment_id",
            )
            .await
        }
        After::FilterModels => {
            filter(
                auth,
                who,
                &mut json,
                "registered_models",
                Grantable::RegisteredModel,
                "/name",
            )
            .await
        }
        After::FilterVersions => {
            filter(
                auth,
                who,
                &mut json,
                "model_versions",
                Grantable::RegisteredModel,
                "/name",
            )
            .await
        }
        After::FilterLoggedModels => {
            filter(
                auth,
                who,
                &mut json,
                "models",
                Grantable::Experiment,
                "/info/experiment_id",
            )
            .await
        }
        After::Nothing => Ok(()),
    };
    if let Err(e) = result {
        return e.into_response();
    }
    if !filtering {
        return Response::from_parts(parts, Body::from(bytes));
    }
    match serde_json::to_vec(&json) {
        Ok(out) => {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
            Response::from_parts(parts, Body::from(out))
        }
        Err(e) => Error::internal("re-encoding an answer", e).into_response(),
    }
}

/// What of `on` the caller may read, as a condition for the search's query.
async fn visible(auth: &Auth, who: &Identity, on: Grantable) -> Result<Visible> {
    let grants = auth.grants(who, on).await?;
    let default_reads = auth.default_permission.can(Need::Read);
    let ids: Vec<String> = grants
        .into_iter()
        .filter(|(_, p)| p.can(Need::Read) != default_reads)
        .map(|(id, _)| id)
        .collect();
    Ok(if default_reads {
        Visible::Except(ids)
    } else {
        Visible::Only(ids)
    })
}

/// Keep the entries of `json[list]` whose id (at the JSON pointer `key`) the caller may read.
async fn filter(
    auth: &Auth,
    who: &Identity,
    json: &mut Value,
    list: &str,
    on: Grantable,
    key: &str,
) -> Result<()> {
    let grants = auth.grants(who, on).await?;
    let readable = |id: &str| {
        grants
            .get(id)
            .copied()
            .unwrap_or(auth.default_permission)
            .can(Need::Read)
    };
    if let Some(Value::Array(items)) = json.get_mut(list) {
        items.retain(|item| {
            item.pointer(key)
                .and_then(Value::as_str)
                .is_some_and(readable)
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_name_their_experiment() {
        assert_eq!(
            artifact_path("/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/x").as_deref(),
            Some("1/abc/artifacts/x")
        );
        assert_eq!(
            artifact_path("/api/2.0/mlflow-artifacts/mpu/create/7/r/f").as_deref(),
            Some("7/r/f")
        );
        assert_eq!(artifact_path("/api/2.0/mlflow-artifacts/artifacts"), None);
    }
}
