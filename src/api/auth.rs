//! The basic-auth app's REST API, as MLflow's `AuthServiceClient` calls it: users
//! (`users/create|get|current|list|update-password|update-admin|delete`), MLflow 3.17's grants
//! (`/api/3.0/mlflow/users/permissions/grant|revoke|get`) and the older per-resource routes
//! (`experiments/permissions/*`, `registered-models/permissions/*`) that 2.x clients use. Who
//! may call what is decided by [`crate::auth::rules`] before these run.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::fields::Fields;
use super::{empty, ok};
use crate::auth::{check_password, hash_password, Auth, Identity, Permission};
use crate::error::{Error, ErrorCode, Result};
use crate::state::AppState;
use crate::store::auth::{AuthUser, Grantable};

fn auth(s: &AppState) -> Result<&Arc<Auth>> {
    s.auth.as_ref().ok_or_else(|| {
        Error::not_found("Authentication is off (start with --app-name basic-auth).")
    })
}

async fn user_json(a: &Auth, u: &AuthUser) -> Result<Value> {
    let store = a.store();
    let exp: Vec<Value> = store
        .auth_grants(Grantable::Experiment, u.id)
        .await?
        .into_iter()
        .map(|(id, p)| json!({"experiment_id": id, "user_id": u.id, "permission": p}))
        .collect();
    let models: Vec<Value> = store
        .auth_grants(Grantable::RegisteredModel, u.id)
        .await?
        .into_iter()
        .map(|(name, p)| json!({"name": name, "user_id": u.id, "permission": p}))
        .collect();
    Ok(json!({
        "id": u.id,
        "username": u.username,
        "is_admin": u.is_admin,
        "experiment_permissions": exp,
        "registered_model_permissions": models,
    }))
}

async fn hash_off_executor(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| Error::internal("password hashing task", e))?
}

pub async fn create_user(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let a = auth(&s)?;
    let username = f.str("username")?.unwrap_or_default();
    let password = f.str("password")?.unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        return Err(Error::invalid("Username and password cannot be empty."));
    }
    check_password(&password)?;
    let hash = hash_off_executor(password).await?;
    let user = a.store().auth_create_user(&username, &hash, false).await?;
    ok(json!({ "user": user_json(a, &user).await? }))
}

pub async fn get_user(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let a = auth(&s)?;
    let user = a.user(&f.req_str("username")?).await?;
    ok(json!({ "user": user_json(a, &user).await? }))
}

pub async fn current_user(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Result<Response> {
    let a = auth(&s)?;
    let user = a.user(&who.username).await?;
    ok(json!({ "user": user_json(a, &user).await? }))
}

pub async fn list_users(State(s): State<AppState>) -> Result<Response> {
    let a = auth(&s)?;
    let users: Vec<Value> = a
        .store()
        .auth_users()
        .await?
        .iter()
        .map(|u| json!({"id": u.id, "username": u.username, "is_admin": u.is_admin}))
        .collect();
    ok(json!({ "users": users }))
}

pub async fn update_password(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    f: Fields,
) -> Result<Response> {
    let a = auth(&s)?;
    let username = f.req_str("username")?;
    let password = f.req_str("password")?;
    let user = a.user(&username).await?;
    if who.username == username {
        let Some(current) = f.str("current_password")?.filter(|c| !c.is_empty()) else {
            return Err(Error::invalid(
                "Current password is required when changing your own password.",
            ));
        };
        let hash = user.password_hash.clone();
        let matches = {
            let current = current.clone();
            tokio::task::spawn_blocking(move || crate::auth::verify_password(&current, &hash))
                .await
                .map_err(|e| Error::internal("password check task", e))?
        };
        if !matches {
            return Err(Error::invalid("Current password does not match."));
        }
        if password == current {
            return Err(Error::invalid(
                "New password must differ from the current password.",
            ));
        }
    }
    check_password(&password)?;
    let hash = hash_off_executor(password).await?;
    a.store().auth_update_password(&username, &hash).await?;
    a.invalidate();
    Ok(empty())
}

pub async fn update_admin(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let a = auth(&s)?;
    let username = f.req_str("username")?;
    let is_admin = match f.raw("is_admin") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("true") => true,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("false") => false,
        _ => return Err(Error::invalid("'is_admin' must be true or false.")),
    };
    a.store().auth_update_admin(&username, is_admin).await?;
    a.invalidate();
    Ok(empty())
}

pub async fn delete_user(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    f: Fields,
) -> Result<Response> {
    let a = auth(&s)?;
    let username = f.req_str("username")?;
    if username == who.username {
        return Err(Error::new(
            ErrorCode::BadRequest,
            "Users cannot delete their own account. Ask another admin to delete this user instead.",
        ));
    }
    a.store().auth_delete_user(&username).await?;
    a.invalidate();
    Ok(empty())
}

/// A permission level from a request; `strict` (the 3.x API) refuses NO_PERMISSIONS as a grant.
fn level(f: &Fields, strict: bool) -> Result<Permission> {
    let p = f.req_str("permission")?;
    match Permission::parse(&p) {
        Some(Permission::NoPermissions) if strict => Err(Error::invalid(
            "NO_PERMISSIONS cannot be granted: revoke the permission instead.",
        )),
        Some(level) => Ok(level),
        None => Err(Error::invalid(format!(
            "Invalid permission '{p}'. Valid permissions are: {}",
            Permission::NAMES
        ))),
    }
}

/// The resource an older per-resource route names, from its path.
fn legacy_target(path: &str, f: &Fields) -> Result<(Grantable, String)> {
    if path.contains("/experiments/permissions/") {
        Ok((Grantable::Experiment, f.req_str("experiment_id")?))
    } else {
        Ok((Grantable::RegisteredModel, f.req_str("name")?))
    }
}

fn grant_json(on: Grantable, resource: &str, user_id: i64, permission: &str) -> Value {
    match on {
        Grantable::Experiment => json!({"experiment_permission": {
            "experiment_id": resource, "user_id": user_id, "permission": permission}}),
        Grantable::RegisteredModel => json!({"registered_model_permission": {
            "name": resource, "user_id": user_id, "permission": permission}}),
    }
}

/// `experiments/permissions/*` and `registered-models/permissions/*` (MLflow ≤ 3.12).
pub async fn legacy_permission(
    State(s): State<AppState>,
    uri: axum::http::Uri,
    f: Fields,
) -> Result<Response> {
    let a = auth(&s)?;
    let path = uri.path();
    let (on, resource) = legacy_target(path, &f)?;
    let user = a.user(&f.req_str("username")?).await?;
    let store = a.store();
    if path.ends_with("/create") {
        let p = level(&f, false)?;
        store
            .auth_grant(on, &resource, user.id, &user.username, p.as_str())
            .await?;
        ok(grant_json(on, &resource, user.id, p.as_str()))
    } else if path.ends_with("/get") {
        let p = store
            .auth_permission(on, &resource, user.id)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "{} with {}={resource} and username={} not found",
                    on.label(),
                    if on == Grantable::Experiment {
                        "experiment_id"
                    } else {
                        "name"
                    },
                    user.username
                ))
            })?;
        ok(grant_json(on, &resource, user.id, &p))
    } else if path.ends_with("/update") {
        let p = level(&f, false)?;
        store
            .auth_update_grant(on, &resource, user.id, &user.username, p.as_str())
            .await?;
        Ok(empty())
    } else {
        store
            .auth_revoke(on, &resource, user.id, &user.username)
            .await?;
        Ok(empty())
    }
}

fn resource_type(f: &Fields) -> Result<(Grantable, String)> {
    let id = f.req_str("resource_id")?;
    Ok((
        Grantable::from_resource_type(&f.req_str("resource_type")?)?,
        id,
    ))
}

/// `POST /api/3.0/mlflow/users/permissions/grant`.
pub async fn grant(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let a = auth(&s)?;
    let user = a.user(&f.req_str("username")?).await?;
    let (on, resource) = resource_type(&f)?;
    let p = level(&f, true)?;
    a.store()
        .auth_grant(on, &resource, user.id, &user.username, p.as_str())
        .await?;
    Ok(empty())
}

/// `POST /api/3.0/mlflow/users/permissions/revoke`.
pub async fn revoke(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let a = auth(&s)?;
    let user = a.user(&f.req_str("username")?).await?;
    let (on, resource) = resource_type(&f)?;
    a.store()
        .auth_revoke(on, &resource, user.id, &user.username)
        .await?;
    Ok(empty())
}

/// `GET /api/3.0/mlflow/users/permissions/get`: the effective permission; `allowed` is MLflow's
/// `can_use`.
pub async fn effective(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let a = auth(&s)?;
    let user = a.user(&f.req_str("username")?).await?;
    let (on, resource) = resource_type(&f)?;
    let who = Identity {
        id: user.id,
        username: user.username,
        is_admin: user.is_admin,
    };
    let p = a.permission(&who, on, &resource).await?;
    ok(json!({"allowed": p.can(crate::auth::Need::Use), "permission": p.as_str()}))
}
