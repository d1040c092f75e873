//! Personal access tokens (Weir-only), under `/api/2.0/weir/users/tokens/`: `create`
//! (`name`, optional `expires_in_days` and, for admins, `username`; the token is in this answer
//! only), `list` (metadata, never a secret) and `revoke` (`token_id`). Who may act on whose
//! tokens is decided in [`crate::auth::tokens`].

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::fields::Fields;
use super::ok;
use crate::auth::Identity;
use crate::error::{Error, Result};
use crate::state::AppState;

fn auth(s: &AppState) -> Result<&std::sync::Arc<crate::auth::Auth>> {
    s.auth.as_ref().ok_or_else(|| {
        Error::not_found("Authentication is off (start with --app-name basic-auth).")
    })
}

/// `POST .../users/tokens/create`.
pub async fn create(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    f: Fields,
) -> Result<Response> {
    let (token, info) = auth(&s)?
        .create_token(
            &who,
            f.str("username")?.as_deref(),
            &f.req_str("name")?,
            f.i64("expires_in_days")?,
        )
        .await?;
    ok(json!({ "token": token, "token_info": info }))
}

/// `GET .../users/tokens/list`.
pub async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    f: Fields,
) -> Result<Response> {
    let tokens = auth(&s)?
        .list_tokens(&who, f.str("username")?.as_deref())
        .await?;
    ok(json!({ "tokens": tokens }))
}

/// `POST .../users/tokens/revoke`.
pub async fn revoke(
    State(s): State<AppState>,
    Extension(who): Extension<Identity>,
    f: Fields,
) -> Result<Response> {
    auth(&s)?.revoke_token(&who, f.req_i64("token_id")?).await?;
    Ok(super::empty())
}
