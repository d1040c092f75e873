//! The basic-auth app (`weir server --app-name basic-auth`), wire-compatible with MLflow's:
//! users (admins or not) authenticated by HTTP Basic, and READ/USE/EDIT/MANAGE/NO_PERMISSIONS
//! grants on experiments and registered models, with a configured default where there is none.
//!
//! - [`config`]: MLflow's ini file (`MLFLOW_AUTH_CONFIG_PATH`) and the admin's password.
//! - [`rules`]: the one table from route to the resource and permission it needs.
//! - [`middleware`]: authentication (verified credentials cached, so the slow hash runs once per
//!   user and TTL), the permission check, and what follows a successful request (the creator's
//!   MANAGE grant, search results filtered to what the caller may read).
//! - The REST API for users and grants is in [`crate::api::auth`].
//!
//! - [`tokens`]: personal access tokens (`Authorization: Bearer weir_pat_...`, Weir-only).
//! - [`werkzeug`]: MLflow's password hashes, for users brought over by [`import`].
//!
//! Passwords are stored as argon2id PHC strings and compared in constant time; a failed attempt
//! costs the same whether or not the user exists, and repeated failures are slowed down per user
//! and per address ([`limiter`]). A user imported from MLflow keeps their werkzeug hash until
//! their first successful sign-in, which stores an argon2id hash instead.

pub mod config;
pub mod import;
pub mod limiter;
pub mod middleware;
pub mod rules;
pub mod tokens;
pub mod werkzeug;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::auth::{AuthUser, Grantable};
use crate::store::SqlStore;
pub use config::AuthConfig;

/// MLflow's permission levels, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// An explicit denial (MLflow 3.17's `DENY`): nothing, whatever the default.
    Deny,
    NoPermissions,
    Read,
    Use,
    Edit,
    Manage,
}

impl Permission {
    pub fn parse(s: &str) -> Option<Permission> {
        Some(match s {
            "DENY" => Permission::Deny,
            "NO_PERMISSIONS" => Permission::NoPermissions,
            "READ" => Permission::Read,
            "USE" => Permission::Use,
            "EDIT" => Permission::Edit,
            "MANAGE" => Permission::Manage,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Deny => "DENY",
            Permission::NoPermissions => "NO_PERMISSIONS",
            Permission::Read => "READ",
            Permission::Use => "USE",
            Permission::Edit => "EDIT",
            Permission::Manage => "MANAGE",
        }
    }

    pub fn can(self, need: Need) -> bool {
        match need {
            Need::Read => self >= Permission::Read,
            Need::Use => self >= Permission::Use,
            Need::Update => self >= Permission::Edit,
            Need::Delete | Need::Manage => self >= Permission::Manage,
        }
    }

    /// The names MLflow lists in errors.
    pub const NAMES: &'static str = "READ, USE, EDIT, MANAGE, NO_PERMISSIONS";
}

/// What a request needs on its resource (MLflow's `can_read`, `can_use`, `can_update`,
/// `can_delete`, `can_manage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Use,
    Update,
    Delete,
    Manage,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
}

/// Passwords shorter than this are refused (MLflow's old default was 12 characters long).
pub const MIN_PASSWORD_LEN: usize = 12;
/// MLflow's historical default admin password (GHSA-gq3w-7jj3-x7gr): never accepted.
pub const FORBIDDEN_PASSWORD: &str = "password1234";

/// How long verified credentials are remembered.
const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;

struct Cached {
    identity: Identity,
    generation: u64,
    until: Instant,
}

/// The auth app's state: shared by every request.
pub struct Auth {
    store: Arc<SqlStore>,
    pub default_permission: Permission,
    /// `/metrics` without credentials (`--public-metrics`).
    pub public_metrics: bool,
    /// Bumped by every change to a user: cached credentials of an older generation are stale.
    generation: AtomicU64,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    pub limiter: limiter::Limiter,
    /// A hash to verify against when the user does not exist, so failures take equal time.
    decoy_hash: String,
}

/// Check a new password against the rules.
pub fn check_password(password: &str) -> Result<()> {
    if password == FORBIDDEN_PASSWORD {
        return Err(Error::invalid(
            "This password is MLflow's old default (GHSA-gq3w-7jj3-x7gr) and cannot be used.",
        ));
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::invalid(format!(
            "Passwords must have at least {MIN_PASSWORD_LEN} characters."
        )));
    }
    Ok(())
}

/// An argon2id PHC string for `password` (slow by design: call it off the executor).
pub fn hash_password(password: &str) -> Result<String> {
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal("salt", e))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal("hashing a password", e))
}

/// Whether `password` matches `hash`: an argon2id PHC string, or a werkzeug hash of a user
/// imported from MLflow (constant time in the comparison).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if werkzeug::is_werkzeug(hash) {
        return werkzeug::verify(password, hash);
    }
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Run a password hash or check on a blocking thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal("password hashing task", e))
}

impl Auth {
    /// Open the auth app: make sure the admin exists (creating it with the configured or a
    /// random password, printed once), and keep the store for every later check.
    pub async fn start(
        store: Arc<SqlStore>,
        config: &AuthConfig,
        public_metrics: bool,
    ) -> anyhow::Result<Auth> {
        let decoy_hash = blocking(|| hash_password("weir decoy password, never matches"))
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let auth = Auth {
            store,
            default_permission: config.default_permission,
            public_metrics,
            generation: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
            limiter: limiter::Limiter::default(),
            decoy_hash,
        };
        auth.bootstrap_admin(config).await?;
        Ok(auth)
    }

    async fn bootstrap_admin(&self, config: &AuthConfig) -> anyhow::Result<()> {
        let name = &config.admin_username;
        if let Some(existing) = self
            .store
            .auth_user(name)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?
        {
            if !existing.is_admin {
                tracing::warn!(
                    user = name,
                    "the configured admin_username exists but is not an admin"
                );
            }
            // A stored password equal to MLflow's old default is refused at login too.
            return Ok(());
        }
        let (password, generated) = match &config.admin_password {
            Some(p) => {
                check_password(p.expose()).map_err(|e| {
                    anyhow::anyhow!("the admin password (MLFLOW_AUTH_ADMIN_PASSWORD or admin_password in the auth config): {}", e.message)
                })?;
                (p.expose().to_owned(), false)
            }
            None => {
                use rand::distr::{Alphanumeric, SampleString};
                (Alphanumeric.sample_string(&mut rand::rng(), 24), true)
            }
        };
        let hash = blocking(move || hash_password(&password).map(|h| (h, password)))
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?
            .map_err(|e| anyhow::anyhow!(e.message))?;
        self.store
            .auth_create_user(name, &hash.0, true)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        if generated {
            // Printed once, to the terminal or the pod's log; only the hash is stored.
            eprintln!(
                "\nweir: created the admin user '{name}' with the password\n\n    {}\n\n\
                 It is shown only this once. Change it with `mlflow.server.get_app_client(\"basic-auth\").update_user_password(...)`, \
                 or set MLFLOW_AUTH_ADMIN_PASSWORD before the first start.\n",
                hash.1
            );
        } else {
            tracing::info!(user = name, "created the admin user");
        }
        Ok(())
    }

    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    /// Forget every cached credential (a user's password, admin flag or existence changed).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Check an `Authorization` header value: `Basic ...` (a user's password) or
    /// `Bearer weir_pat_...` (a personal access token). `Ok(None)`: wrong credentials.
    pub async fn authenticate(&self, header: &[u8]) -> Result<Option<Identity>> {
        let key: [u8; 32] = Sha256::digest(header).into();
        let generation = self.generation.load(Ordering::Acquire);
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.get(&key) {
                if c.generation == generation && c.until > Instant::now() {
                    return Ok(Some(c.identity.clone()));
                }
            }
        }
        let (identity, until) = if let Some(token) = tokens::parse_bearer(header) {
            match self.authenticate_token(token).await? {
                Some(found) => found,
                None => return Ok(None),
            }
        } else {
            match self.authenticate_password(header).await? {
                Some(identity) => (identity, Instant::now() + CACHE_TTL),
                None => return Ok(None),
            }
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                let now = Instant::now();
                cache.retain(|_, c| c.until > now && c.generation == generation);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(
                key,
                Cached {
                    identity: identity.clone(),
                    generation,
                    until,
                },
            );
        }
        Ok(Some(identity))
    }

    /// `Basic base64(user:password)`, verified against the stored hash; a werkzeug hash (a user
    /// imported from MLflow) is replaced by argon2id once the password matched.
    async fn authenticate_password(&self, header: &[u8]) -> Result<Option<Identity>> {
        let Some((username, password)) = parse_basic(header) else {
            return Ok(None);
        };
        let user = self.store.auth_user(&username).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| self.decoy_hash.clone(), |u| u.password_hash.clone());
        let (ok, upgraded) = blocking(move || {
            let ok = verify_password(&password, &hash) && password != FORBIDDEN_PASSWORD;
            let upgraded = (ok && werkzeug::is_werkzeug(&hash))
                .then(|| hash_password(&password).ok())
                .flatten();
            (ok, upgraded)
        })
        .await?;
        let Some(user) = user.filter(|_| ok) else {
            return Ok(None);
        };
        if let Some(new_hash) = upgraded {
            match self
                .store
                .auth_update_password(&user.username, &new_hash)
                .await
            {
                Ok(()) => tracing::info!(
                    user = user.username,
                    "replaced an imported werkzeug password hash with argon2id"
                ),
                Err(e) => tracing::warn!(
                    user = user.username,
                    "could not replace an imported password hash: {}",
                    e.message
                ),
            }
        }
        Ok(Some(Identity {
            id: user.id,
            username: user.username,
            is_admin: user.is_admin,
        }))
    }

    /// A personal access token: its shape first, then one lookup by its digest. Also returns
    /// how long it may be remembered (not past its expiry).
    async fn authenticate_token(&self, token: &str) -> Result<Option<(Identity, Instant)>> {
        if !tokens::well_formed(token) {
            return Ok(None);
        }
        let digest = tokens::digest(token);
        let Some(owner) = self.store.auth_token_owner(&digest).await? else {
            return Ok(None);
        };
        let now = crate::types::now_ms();
        if !tokens::same_digest(&owner.token_hash, &digest)
            || owner.revoked_at.is_some()
            || owner.expires_at.is_some_and(|e| e <= now)
        {
            return Ok(None);
        }
        let mut until = Instant::now() + CACHE_TTL;
        if let Some(expires) = owner.expires_at {
            let left = Duration::from_millis(u64::try_from(expires - now).unwrap_or(0));
            until = until.min(Instant::now() + left);
        }
        let identity = Identity {
            id: owner.user_id,
            username: owner.username,
            is_admin: owner.is_admin,
        };
        Ok(Some((identity, until)))
    }

    /// The permission `who` holds on a resource: an explicit grant, else the default.
    pub async fn permission(
        &self,
        who: &Identity,
        on: Grantable,
        resource: &str,
    ) -> Result<Permission> {
        if who.is_admin {
            return Ok(Permission::Manage);
        }
        Ok(self
            .store
            .auth_permission(on, resource, who.id)
            .await?
            .and_then(|p| Permission::parse(&p))
            .unwrap_or(self.default_permission))
    }

    /// Every explicit grant of `who` in one table, for filtering search results.
    pub async fn grants(
        &self,
        who: &Identity,
        on: Grantable,
    ) -> Result<HashMap<String, Permission>> {
        Ok(self
            .store
            .auth_grants(on, who.id)
            .await?
            .into_iter()
            .filter_map(|(r, p)| Permission::parse(&p).map(|p| (r, p)))
            .collect())
    }

    pub async fn user(&self, username: &str) -> Result<AuthUser> {
        self.store
            .auth_user(username)
            .await?
            .ok_or_else(|| Error::not_found(format!("User with username={username} not found")))
    }
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    use base64::Engine;
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, rest) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_order_as_mlflow() {
        assert!(Permission::Manage.can(Need::Delete));
        assert!(!Permission::Edit.can(Need::Delete));
        assert!(Permission::Edit.can(Need::Update));
        assert!(Permission::Use.can(Need::Read) && !Permission::Use.can(Need::Update));
        assert!(!Permission::NoPermissions.can(Need::Read));
        assert!(!Permission::Deny.can(Need::Read));
        for p in ["READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS", "DENY"] {
            assert_eq!(Permission::parse(p).map(Permission::as_str), Some(p));
        }
        assert_eq!(Permission::parse("read"), None);
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(check_password(FORBIDDEN_PASSWORD).is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("twelve chars").is_ok());
    }

    #[test]
    fn basic_headers_parse() {
        assert_eq!(
            parse_basic(b"Basic YWRtaW46cGFzczp3b3Jk"),
            Some(("admin".into(), "pass:word".into()))
        );
        assert_eq!(parse_basic(b"Bearer abc"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic"), None);
    }
}
