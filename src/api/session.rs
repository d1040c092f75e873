//! What the web UI asks before it draws actions, under `/ajax-api/2.0/weir/`: `session` (is
//! authentication on, who is signed in, are they an admin) and `permissions` (the caller's
//! effective level on a page's worth of experiments or registered models, so the UI shows only
//! the buttons the server would accept). Both answer 200 with authentication off, where everyone
//! may do everything. They only describe; the permission check on each route still decides.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::fields::Fields;
use super::ok;
use crate::auth::{Identity, Permission};
use crate::error::{Error, ErrorCode, Result};
use crate::state::AppState;
use crate::store::auth::Grantable;

/// At most this many resources per `permissions` call (a page of the UI's lists).
const MAX_RESOURCES: usize = 1000;

/// The auth layer admits no request without an identity; this is defence in depth.
fn no_identity() -> Error {
    Error::new(ErrorCode::PermissionDenied, "Permission denied.")
}

/// `GET .../weir/session`: `{"auth": false}`, or `{"auth": true, "user": {...},
/// "default_permission": ...}`.
pub async fn session(
    State(s): State<AppState>,
    who: Option<Extension<Identity>>,
) -> Result<Response> {
    match (&s.auth, who) {
        (Some(a), Some(Extension(who))) => ok(json!({
            "auth": true,
            "user": {"id": who.id, "username": who.username, "is_admin": who.is_admin},
            "default_permission": a.default_permission.as_str(),
        })),
        (Some(_), None) => Err(no_identity()),
        (None, _) => ok(json!({"auth": false})),
    }
}

/// `GET .../weir/permissions?resource_type=experiment|registered_model&resource_id=...`
/// (repeated): `{"permissions": [{"resource_id", "permission"}]}` in the order asked.
pub async fn permissions(
    State(s): State<AppState>,
    who: Option<Extension<Identity>>,
    f: Fields,
) -> Result<Response> {
    let on = Grantable::from_resource_type(&f.req_str("resource_type")?)?;
    let ids = f.str_list("resource_id")?;
    if ids.len() > MAX_RESOURCES {
        return Err(Error::invalid(format!(
            "At most {MAX_RESOURCES} resource_id values per request (got {}).",
            ids.len()
        )));
    }
    let level = |p: Permission| p.as_str();
    let answer: Vec<_> = match (&s.auth, who) {
        (Some(a), Some(Extension(who))) => {
            let grants = if who.is_admin {
                Default::default()
            } else {
                a.grants(&who, on).await?
            };
            ids.into_iter()
                .map(|id| {
                    let p = if who.is_admin {
                        Permission::Manage
                    } else {
                        grants.get(&id).copied().unwrap_or(a.default_permission)
                    };
                    json!({"resource_id": id, "permission": level(p)})
                })
                .collect()
        }
        (Some(_), None) => return Err(no_identity()),
        (None, _) => ids
            .into_iter()
            .map(|id| json!({"resource_id": id, "permission": level(Permission::Manage)}))
            .collect(),
    };
    ok(json!({ "permissions": answer }))
}
