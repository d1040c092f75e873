//! Users and per-resource permissions of the basic-auth app (tables `auth_*`, migration 0003),
//! personal access tokens (`auth_tokens`, migration 0004), and the lookups the permission check
//! needs (a run's and a logged model's experiment).

use sqlx::Row;

use super::{unique_violation, SqlStore};
use crate::error::{Error, Result};

/// A user as stored (the hash never leaves the auth layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
}

/// Which table a permission lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grantable {
    Experiment,
    RegisteredModel,
}

impl Grantable {
    /// MLflow 3.17's `resource_type` names, with the error its grant API gives for others.
    pub fn from_resource_type(kind: &str) -> Result<Grantable> {
        match kind {
            "experiment" => Ok(Grantable::Experiment),
            "registered_model" => Ok(Grantable::RegisteredModel),
            other => Err(Error::invalid(format!(
                "Unsupported resource_type '{other}': use 'experiment' or 'registered_model'."
            ))),
        }
    }

    fn table(self) -> &'static str {
        match self {
            Grantable::Experiment => "auth_experiment_permissions",
            Grantable::RegisteredModel => "auth_registered_model_permissions",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Grantable::Experiment => "experiment_id",
            Grantable::RegisteredModel => "name",
        }
    }
    /// MLflow's wording in messages.
    pub fn label(self) -> &'static str {
        match self {
            Grantable::Experiment => "Experiment permission",
            Grantable::RegisteredModel => "Registered model permission",
        }
    }
}

/// A personal access token as listed: never its secret, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub username: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What a presented token resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub token_hash: String,
    pub user_id: i64,
    pub username: String,
    pub is_admin: bool,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str =
    "t.id, t.name, u.username, t.created_at, t.expires_at, t.revoked_at FROM auth_tokens t \
     JOIN auth_users u ON u.id = t.user_id";

fn token_from_row(r: &sqlx::any::AnyRow) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        username: r.try_get("username")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<AuthUser> {
    Ok(AuthUser {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        is_admin: r.try_get::<i64, _>("is_admin")? != 0,
    })
}

fn user_not_found(username: &str) -> Error {
    Error::not_found(format!("User with username={username} not found"))
}

impl SqlStore {
    pub async fn auth_user_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM auth_users")
            .fetch_one(&self.reader)
            .await?
            .try_get("n")?)
    }

    pub async fn auth_create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<AuthUser> {
        sqlx::query(
            "INSERT INTO auth_users (username, password_hash, is_admin) VALUES ($1, $2, $3)",
        )
        .bind(username)
        .bind(password_hash)
        .bind(i64::from(is_admin))
        .execute(&self.writer)
        .await
        .map_err(|e| {
            unique_violation(e, || format!("User (username={username}) already exists."))
        })?;
        self.auth_user(username)
            .await?
            .ok_or_else(|| user_not_found(username))
    }

    pub async fn auth_user(&self, username: &str) -> Result<Option<AuthUser>> {
        sqlx::query(
            "SELECT id, username, password_hash, is_admin FROM auth_users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| user_from_row(&r))
        .transpose()
    }

    pub async fn auth_users(&self) -> Result<Vec<AuthUser>> {
        sqlx::query(
            "SELECT id, username, password_hash, is_admin FROM auth_users ORDER BY username",
        )
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(user_from_row)
        .collect()
    }

    pub async fn auth_update_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let r = sqlx::query("UPDATE auth_users SET password_hash = $1 WHERE username = $2")
            .bind(password_hash)
            .bind(username)
            .execute(&self.writer)
            .await?;
        if r.rows_affected() == 0 {
            return Err(user_not_found(username));
        }
        Ok(())
    }

    pub async fn auth_update_admin(&self, username: &str, is_admin: bool) -> Result<()> {
        let r = sqlx::query("UPDATE auth_users SET is_admin = $1 WHERE username = $2")
            .bind(i64::from(is_admin))
            .bind(username)
            .execute(&self.writer)
            .await?;
        if r.rows_affected() == 0 {
            return Err(user_not_found(username));
        }
        Ok(())
    }

    /// Delete a user and every grant they hold.
    pub async fn auth_delete_user(&self, username: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let Some(row) = sqlx::query("SELECT id FROM auth_users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Err(user_not_found(username));
        };
        let id: i64 = row.try_get("id")?;
        for table in [
            "auth_experiment_permissions",
            "auth_registered_model_permissions",
            "auth_tokens",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM auth_users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Store a new token (its hash) for `user_id`.
    pub async fn auth_create_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &str,
        created_at: i64,
        expires_at: Option<i64>,
    ) -> Result<TokenInfo> {
        let row = sqlx::query(
            "INSERT INTO auth_tokens (user_id, name, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(created_at)
        .bind(expires_at)
        .fetch_one(&self.writer)
        .await?;
        let id: i64 = row.try_get("id")?;
        self.auth_token(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("Token with id={id} not found")))
    }

    /// One token's metadata.
    pub async fn auth_token(&self, id: i64) -> Result<Option<TokenInfo>> {
        sqlx::query(&format!("SELECT {TOKEN_COLUMNS} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| token_from_row(&r))
            .transpose()
    }

    /// The tokens of one user (`Some`) or of everyone, newest first.
    pub async fn auth_tokens(&self, user_id: Option<i64>) -> Result<Vec<TokenInfo>> {
        let rows = match user_id {
            Some(id) => {
                sqlx::query(&format!(
                    "SELECT {TOKEN_COLUMNS} WHERE t.user_id = $1 ORDER BY t.id DESC"
                ))
                .bind(id)
                .fetch_all(&self.reader)
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {TOKEN_COLUMNS} ORDER BY t.id DESC"))
                    .fetch_all(&self.reader)
                    .await?
            }
        };
        rows.iter().map(token_from_row).collect()
    }

    /// The user a token hash belongs to, with the token's state.
    pub async fn auth_token_owner(&self, token_hash: &str) -> Result<Option<TokenOwner>> {
        sqlx::query(
            "SELECT t.token_hash, t.user_id, u.username, u.is_admin, t.expires_at, t.revoked_at \
             FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| {
            Ok(TokenOwner {
                token_hash: r.try_get("token_hash")?,
                user_id: r.try_get("user_id")?,
                username: r.try_get("username")?,
                is_admin: r.try_get::<i64, _>("is_admin")? != 0,
                expires_at: r.try_get("expires_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .transpose()
    }

    /// Mark a token revoked (kept, so listings show it); 404 when there is no such token.
    pub async fn auth_revoke_token(&self, id: i64, at: i64) -> Result<()> {
        let r = sqlx::query(
            "UPDATE auth_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
        )
        .bind(at)
        .bind(id)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(format!("Token with id={id} not found")));
        }
        Ok(())
    }

    /// The permission `user_id` holds on one resource, if any was granted.
    pub async fn auth_permission(
        &self,
        on: Grantable,
        resource: &str,
        user_id: i64,
    ) -> Result<Option<String>> {
        let sql = format!(
            "SELECT permission FROM {} WHERE {} = $1 AND user_id = $2",
            on.table(),
            on.key()
        );
        Ok(sqlx::query(&sql)
            .bind(resource)
            .bind(user_id)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| r.try_get::<String, _>("permission"))
            .transpose()?)
    }

    /// Every grant `user_id` holds in one table: (resource, permission).
    pub async fn auth_grants(&self, on: Grantable, user_id: i64) -> Result<Vec<(String, String)>> {
        let sql = format!(
            "SELECT {key} AS resource, permission FROM {table} WHERE user_id = $1 ORDER BY {key}",
            key = on.key(),
            table = on.table()
        );
        sqlx::query(&sql)
            .bind(user_id)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("resource")?, r.try_get("permission")?)))
            .collect()
    }

    /// Grant a permission; `RESOURCE_ALREADY_EXISTS` when the user holds one on it already.
    pub async fn auth_grant(
        &self,
        on: Grantable,
        resource: &str,
        user_id: i64,
        username: &str,
        permission: &str,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO {} ({}, user_id, permission) VALUES ($1, $2, $3)",
            on.table(),
            on.key()
        );
        sqlx::query(&sql)
            .bind(resource)
            .bind(user_id)
            .bind(permission)
            .execute(&self.writer)
            .await
            .map_err(|e| {
                unique_violation(e, || {
                    format!(
                        "{} ({}={resource}, username={username}) already exists.",
                        on.label(),
                        on.key()
                    )
                })
            })?;
        Ok(())
    }

    /// Grant or change a permission (what a creator gets on what they create).
    pub async fn auth_set_grant(
        &self,
        on: Grantable,
        resource: &str,
        user_id: i64,
        permission: &str,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO {t} ({k}, user_id, permission) VALUES ($1, $2, $3) \
             ON CONFLICT ({k}, user_id) DO UPDATE SET permission = excluded.permission",
            t = on.table(),
            k = on.key()
        );
        sqlx::query(&sql)
            .bind(resource)
            .bind(user_id)
            .bind(permission)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Change an existing grant; 404 when there is none.
    pub async fn auth_update_grant(
        &self,
        on: Grantable,
        resource: &str,
        user_id: i64,
        username: &str,
        permission: &str,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET permission = $1 WHERE {} = $2 AND user_id = $3",
            on.table(),
            on.key()
        );
        let r = sqlx::query(&sql)
            .bind(permission)
            .bind(resource)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        if r.rows_affected() == 0 {
            return Err(grant_not_found(on, resource, username));
        }
        Ok(())
    }

    /// Remove a grant; 404 when there is none.
    pub async fn auth_revoke(
        &self,
        on: Grantable,
        resource: &str,
        user_id: i64,
        username: &str,
    ) -> Result<()> {
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1 AND user_id = $2",
            on.table(),
            on.key()
        );
        let r = sqlx::query(&sql)
            .bind(resource)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        if r.rows_affected() == 0 {
            return Err(grant_not_found(on, resource, username));
        }
        Ok(())
    }

    /// The experiment a run belongs to.
    pub async fn experiment_of_run(&self, run_id: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query("SELECT experiment_id FROM runs WHERE run_uuid = $1")
                .bind(run_id)
                .fetch_optional(&self.reader)
                .await?
                .map(|r| r.try_get::<i64, _>("experiment_id"))
                .transpose()?,
        )
    }

    /// Whether an experiment exists (in any lifecycle stage).
    pub async fn experiment_exists(&self, id: i64) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM experiments WHERE experiment_id = $1")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?
                .is_some(),
        )
    }

    pub async fn experiment_id_by_name(&self, name: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query("SELECT experiment_id FROM experiments WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.reader)
                .await?
                .map(|r| r.try_get::<i64, _>("experiment_id"))
                .transpose()?,
        )
    }

    pub async fn registered_model_exists(&self, name: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM registered_models WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.reader)
                .await?
                .is_some(),
        )
    }

    /// The experiment a logged model belongs to.
    pub async fn experiment_of_logged_model(&self, model_id: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query("SELECT experiment_id FROM logged_models WHERE model_id = $1")
                .bind(model_id)
                .fetch_optional(&self.reader)
                .await?
                .map(|r| r.try_get::<i64, _>("experiment_id"))
                .transpose()?,
        )
    }
}

fn grant_not_found(on: Grantable, resource: &str, username: &str) -> Error {
    Error::not_found(format!(
        "{} with {}={resource} and username={username} not found",
        on.label(),
        on.key()
    ))
}
