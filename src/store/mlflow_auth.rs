//! Reading MLflow's basic-auth database (`basic_auth.db`, or the `database_uri` of its ini), for
//! `weir auth import`. Two layouts, as MLflow's alembic migrations leave them:
//!
//! - MLflow 3.17 and later: grants live in `role_permissions` (`resource_type`,
//!   `resource_pattern`, `permission`) of `roles` (each with a workspace) assigned to users in
//!   `user_role_assignments`; MLflow makes one synthetic role `__user_<id>__` per user for the
//!   per-user grants. The older tables stay behind as a frozen snapshot and are not read.
//! - Before: `experiment_permissions` and `registered_model_permissions` (with a `workspace`
//!   column in the versions that had workspaces but no roles).
//!
//! Opened read-only when it is a SQLite file; nothing is ever written there.

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use crate::error::Result;

/// The tables `weir auth import` reads from a database with roles (MLflow ≥ 3.17).
const ROLE_TABLES: &[&str] = &[
    "users",
    "roles",
    "role_permissions",
    "user_role_assignments",
    "alembic_version",
];
/// The tables it reads from an older one.
const LEGACY_TABLES: &[&str] = &[
    "users",
    "experiment_permissions",
    "registered_model_permissions",
    "alembic_version",
];

/// A user row of MLflow's `users` table (its columns are nullable there).
#[derive(Debug, Clone)]
pub struct MlflowUser {
    pub id: i64,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub is_admin: bool,
}

/// One permission a user holds: on a resource type (`experiment`, `registered_model`, or one
/// Weir does not have), a resource (an experiment id, a model name, or a pattern such as `*`).
#[derive(Debug, Clone)]
pub struct MlflowGrant {
    pub resource_type: String,
    pub resource: String,
    pub user_id: i64,
    pub permission: Option<String>,
    /// MLflow's workspace (newer versions); `None` before workspaces existed.
    pub workspace: Option<String>,
}

/// An open MLflow auth database.
pub struct MlflowAuthDb {
    pool: AnyPool,
    sqlite: bool,
    /// Whether grants live in roles (MLflow ≥ 3.17).
    roles: bool,
}

impl MlflowAuthDb {
    /// Open `from`: a path to a SQLite file, or an MLflow/SQLAlchemy URI (`sqlite:///...`,
    /// `postgresql://...`).
    pub async fn open(from: &str) -> anyhow::Result<MlflowAuthDb> {
        sqlx::any::install_default_drivers();
        let pg = [
            "postgresql",
            "postgres",
            "postgresql+psycopg2",
            "postgresql+psycopg",
        ]
        .iter()
        .find_map(|s| from.strip_prefix(&format!("{s}://")));
        if let Some(rest) = pg {
            let opts = AnyConnectOptions::from_str(&format!("postgres://{rest}"))?;
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await?;
            return MlflowAuthDb {
                pool,
                sqlite: false,
                roles: false,
            }
            .detect()
            .await;
        }
        let path = if from.starts_with("sqlite:") {
            super::sqlite_path(from).unwrap_or_default()
        } else if from.contains("://") {
            anyhow::bail!(
                "unsupported database URI: give a path to basic_auth.db, sqlite:///path or postgresql://..."
            );
        } else {
            from.to_owned()
        };
        let path = std::path::Path::new(&path);
        if !path.is_file() {
            anyhow::bail!("no such file: {}", path.display());
        }
        let abs = std::path::absolute(path)?;
        const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'/')
            .remove(b'.')
            .remove(b'-')
            .remove(b'_');
        let abs = abs.to_string_lossy();
        let encoded = percent_encoding::utf8_percent_encode(&abs, PATH);
        let opts = AnyConnectOptions::from_str(&format!("sqlite://{encoded}?mode=ro"))?;
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        MlflowAuthDb {
            pool,
            sqlite: true,
            roles: false,
        }
        .detect()
        .await
    }

    /// Which layout this database has; refuses one without MLflow's `users` table.
    async fn detect(mut self) -> anyhow::Result<MlflowAuthDb> {
        let tables = self.tables().await?;
        if !tables.iter().any(|t| t == "users") {
            anyhow::bail!("this is not MLflow's auth database: it has no users table");
        }
        self.roles = tables.iter().any(|t| t == "role_permissions");
        Ok(self)
    }

    async fn tables(&self) -> Result<Vec<String>> {
        let list = if self.sqlite {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        } else {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY table_name"
        };
        sqlx::query(list)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get("name")?))
            .collect()
    }

    pub async fn users(&self) -> Result<Vec<MlflowUser>> {
        sqlx::query(
            "SELECT id, username, password_hash, \
             CASE WHEN is_admin THEN 1 ELSE 0 END AS is_admin FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(MlflowUser {
                id: r.try_get::<i64, _>("id")?,
                username: r.try_get("username")?,
                password_hash: r.try_get("password_hash")?,
                is_admin: r.try_get::<i64, _>("is_admin")? != 0,
            })
        })
        .collect()
    }

    /// Every grant of every user: through their roles (MLflow ≥ 3.17), else from the older
    /// per-resource tables.
    pub async fn grants(&self) -> Result<Vec<MlflowGrant>> {
        if self.roles {
            let rows = sqlx::query(
                "SELECT a.user_id, r.workspace, p.resource_type, p.resource_pattern, p.permission \
                 FROM user_role_assignments a JOIN roles r ON r.id = a.role_id \
                 JOIN role_permissions p ON p.role_id = r.id ORDER BY p.id, a.user_id",
            )
            .fetch_all(&self.pool)
            .await?;
            return rows
                .iter()
                .map(|r| {
                    Ok(MlflowGrant {
                        resource_type: r.try_get("resource_type")?,
                        resource: r.try_get("resource_pattern")?,
                        user_id: r.try_get::<i64, _>("user_id")?,
                        permission: r.try_get("permission")?,
                        workspace: r.try_get("workspace")?,
                    })
                })
                .collect();
        }
        let mut out = self
            .legacy("experiment_permissions", "experiment_id", "experiment")
            .await?;
        out.extend(
            self.legacy("registered_model_permissions", "name", "registered_model")
                .await?,
        );
        Ok(out)
    }

    async fn legacy(&self, table: &str, key: &str, kind: &str) -> Result<Vec<MlflowGrant>> {
        let with_workspace = format!(
            "SELECT CAST({key} AS TEXT) AS resource, user_id, permission, workspace FROM {table} ORDER BY id"
        );
        let rows = match sqlx::query(&with_workspace).fetch_all(&self.pool).await {
            Ok(rows) => rows,
            // Before MLflow had workspaces.
            Err(_) => {
                sqlx::query(&format!(
                    "SELECT CAST({key} AS TEXT) AS resource, user_id, permission FROM {table} ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(MlflowGrant {
                    resource_type: kind.to_owned(),
                    resource: r.try_get("resource")?,
                    user_id: r.try_get::<i64, _>("user_id")?,
                    permission: r.try_get("permission")?,
                    workspace: r.try_get::<Option<String>, _>("workspace").ok().flatten(),
                })
            })
            .collect()
    }

    /// Tables `weir auth import` does not read that hold rows (newer MLflow's scorer, gateway
    /// and workspace permissions; the frozen pre-3.17 tables beside roles): (table, rows).
    pub async fn other_tables(&self) -> Result<Vec<(String, i64)>> {
        let read = if self.roles {
            ROLE_TABLES
        } else {
            LEGACY_TABLES
        };
        let mut out = Vec::new();
        for name in self.tables().await? {
            // Only plain identifiers are quoted into a statement.
            if read.contains(&name.as_str())
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                continue;
            }
            let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM \"{name}\""))
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
            if n > 0 {
                out.push((name, n));
            }
        }
        Ok(out)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
