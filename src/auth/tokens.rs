//! Personal access tokens (Weir-only): `weir_pat_` and 64 lowercase hex digits (256 random
//! bits). A token is shown once, when created; the store keeps only its SHA-256, which is enough
//! for a secret of that entropy (nothing to brute-force, so no slow hash is needed) and lets a
//! presented token be found by one indexed lookup. A presented token is checked for its exact
//! shape before anything else, so junk never reaches the database.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Auth, Identity};
use crate::error::{Error, ErrorCode, Result};
use crate::store::auth::TokenInfo;

/// What every token starts with, so leaked tokens are recognisable (secret scanners, logs).
pub const PREFIX: &str = "weir_pat_";
/// Hex digits after the prefix.
const SECRET_HEX: usize = 64;
/// The longest lifetime a token may be given.
pub const MAX_DAYS: i64 = 3650;

/// The longest token name.
const MAX_NAME: usize = 256;

fn denied() -> Error {
    Error::new(ErrorCode::PermissionDenied, "Permission denied")
}

impl Auth {
    /// The user whose tokens `who` asks about: `username`, or themself. Only admins may name
    /// another user.
    async fn token_owner(&self, who: &Identity, username: Option<&str>) -> Result<Identity> {
        match username.filter(|u| !u.is_empty() && *u != who.username) {
            None => Ok(who.clone()),
            Some(_) if !who.is_admin => Err(denied()),
            Some(name) => {
                let u = self.user(name).await?;
                Ok(Identity {
                    id: u.id,
                    username: u.username,
                    is_admin: u.is_admin,
                })
            }
        }
    }

    /// Create a token for `username` (or `who`), valid for `expires_in_days` (or until
    /// revoked). The token itself is in the answer only; the store keeps its digest.
    pub async fn create_token(
        &self,
        who: &Identity,
        username: Option<&str>,
        name: &str,
        expires_in_days: Option<i64>,
    ) -> Result<(String, TokenInfo)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(Error::invalid(format!(
                "A token needs a 'name' of 1 to {MAX_NAME} characters."
            )));
        }
        if let Some(d) = expires_in_days {
            if !(1..=MAX_DAYS).contains(&d) {
                return Err(Error::invalid(format!(
                    "'expires_in_days' must be between 1 and {MAX_DAYS}, got {d}."
                )));
            }
        }
        let owner = self.token_owner(who, username).await?;
        let now = crate::types::now_ms();
        let expires_at = expires_in_days.map(|d| now + d * 86_400_000);
        let token = generate();
        let info = self
            .store()
            .auth_create_token(owner.id, name, &digest(&token), now, expires_at)
            .await?;
        tracing::info!(
            user = who.username,
            owner = owner.username,
            token_id = info.id,
            "created an access token"
        );
        Ok((token, info))
    }

    /// The tokens of `username` (or `who`), without secrets.
    pub async fn list_tokens(
        &self,
        who: &Identity,
        username: Option<&str>,
    ) -> Result<Vec<TokenInfo>> {
        let owner = self.token_owner(who, username).await?;
        self.store().auth_tokens(Some(owner.id)).await
    }

    /// Revoke a token: its owner or an admin may. A non-admin learns nothing about tokens that
    /// are not theirs (403 whether or not it exists).
    pub async fn revoke_token(&self, who: &Identity, id: i64) -> Result<()> {
        let token = self.store().auth_token(id).await?;
        match token {
            Some(t) if who.is_admin || t.username == who.username => {}
            _ if !who.is_admin => return Err(denied()),
            _ => return Err(Error::not_found(format!("Token with id={id} not found"))),
        }
        self.store()
            .auth_revoke_token(id, crate::types::now_ms())
            .await?;
        // Cached identities of this token end now.
        self.invalidate();
        tracing::info!(
            user = who.username,
            token_id = id,
            "revoked an access token"
        );
        Ok(())
    }
}

/// A fresh token.
pub fn generate() -> String {
    let secret: [u8; 32] = rand::random();
    format!("{PREFIX}{}", hex::encode(secret))
}

/// Whether `token` has exactly a token's shape.
pub fn well_formed(token: &str) -> bool {
    token.len() == PREFIX.len() + SECRET_HEX
        && token.starts_with(PREFIX)
        && token[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The stored form of a token: hex SHA-256.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality of two stored digests.
pub fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// `Bearer <token>` → the token, when the header uses the Bearer scheme.
pub fn parse_bearer(header: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, rest) = text.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_one_exact_shape() {
        let t = generate();
        assert!(well_formed(&t), "{t}");
        assert_ne!(generate(), t);
        assert!(!well_formed(&t[..t.len() - 1]));
        assert!(!well_formed(&format!("{t}0")));
        assert!(!well_formed(&t.to_uppercase()));
        assert!(!well_formed(&t.replacen("weir_pat_", "weir_pak_", 1)));
        assert!(!well_formed(&format!("{}g", &t[..t.len() - 1])));
        assert!(!well_formed(""));
        // A multi-byte character where a hex digit belongs is refused, not sliced.
        assert!(!well_formed(&format!("{PREFIX}{}é", "0".repeat(62))));
        assert_eq!(digest(&t).len(), 64);
        assert!(same_digest(&digest(&t), &digest(&t)));
        assert!(!same_digest(&digest(&t), &digest("other")));
    }

    #[test]
    fn bearer_headers_parse() {
        assert_eq!(parse_bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer(b"bearer  abc "), Some("abc"));
        assert_eq!(parse_bearer(b"Basic abc"), None);
        assert_eq!(parse_bearer(b"Bearer"), None);
        assert_eq!(parse_bearer(&[0xff, 0xfe]), None);
    }
}
