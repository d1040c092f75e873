//! `weir auth import`: bring an MLflow basic-auth setup along. Users keep their werkzeug
//! password hashes (verified at sign-in by [`super::werkzeug`], then replaced by argon2id), and
//! their experiment and registered-model permissions are copied. What cannot be imported is
//! skipped and reported: users without a name or with a hash format Weir cannot verify,
//! permissions with an unknown level or in another MLflow workspace, and the tables of newer
//! MLflow features Weir does not have (scorer, gateway, workspace and role permissions). A user
//! who already exists in Weir is left alone unless `overwrite` is set.

use std::collections::HashMap;

use super::{werkzeug, Permission};
use crate::error::Result;
use crate::store::auth::Grantable;
use crate::store::mlflow_auth::{MlflowAuthDb, MlflowGrant};
use crate::store::SqlStore;

/// MLflow's workspace before there were several.
const DEFAULT_WORKSPACE: &str = "default";

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Users created in Weir.
    pub created: Vec<String>,
    /// Users that existed and were replaced (`--overwrite`).
    pub replaced: Vec<String>,
    /// Users not imported, with the reason.
    pub skipped_users: Vec<(String, String)>,
    /// Permissions copied.
    pub grants: usize,
    /// Permissions not copied, each described with the reason.
    pub skipped_grants: Vec<String>,
    /// Tables with rows that Weir does not import: (table, rows).
    pub skipped_tables: Vec<(String, i64)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "users: {} created, {} replaced, {} skipped; permissions: {} copied, {} skipped",
            self.created.len(),
            self.replaced.len(),
            self.skipped_users.len(),
            self.grants,
            self.skipped_grants.len()
        )?;
        for u in &self.created {
            writeln!(f, "  created user {u}")?;
        }
        for u in &self.replaced {
            writeln!(f, "  replaced user {u}")?;
        }
        for (u, why) in &self.skipped_users {
            writeln!(f, "  skipped user {u}: {why}")?;
        }
        for g in &self.skipped_grants {
            writeln!(f, "  skipped permission {g}")?;
        }
        for (t, n) in &self.skipped_tables {
            writeln!(f, "  not imported: table {t} ({n} rows)")?;
        }
        Ok(())
    }
}

/// Copy MLflow's users and permissions from `from` into Weir's `to`.
pub async fn import(from: &MlflowAuthDb, to: &SqlStore, overwrite: bool) -> Result<Report> {
    let mut report = Report::default();
    // MLflow's user id → Weir's, for the users imported.
    let mut ids: HashMap<i64, (i64, String)> = HashMap::new();
    for u in from.users().await? {
        let Some(name) = u.username.filter(|n| !n.is_empty()) else {
            report
                .skipped_users
                .push((format!("(id {})", u.id), "no username".into()));
            continue;
        };
        let Some(hash) = u.password_hash.filter(|h| werkzeug::is_werkzeug(h)) else {
            report.skipped_users.push((
                name,
                "its password hash is not a werkzeug scrypt or pbkdf2 (sha256/sha512) hash".into(),
            ));
            continue;
        };
        let weir_id = match to.auth_user(&name).await? {
            Some(_) if !overwrite => {
                report.skipped_users.push((
                    name,
                    "already exists in Weir (--overwrite replaces its password and admin flag)"
                        .into(),
                ));
                continue;
            }
            Some(existing) => {
                to.auth_update_password(&name, &hash).await?;
                to.auth_update_admin(&name, u.is_admin).await?;
                report.replaced.push(name.clone());
                existing.id
            }
            None => {
                let created = to.auth_create_user(&name, &hash, u.is_admin).await?;
                report.created.push(name.clone());
                created.id
            }
        };
        ids.insert(u.id, (weir_id, name));
    }
    // A user may hold one resource through several roles: the strongest level wins.
    let mut merged: HashMap<(Grantable, String, i64), Permission> = HashMap::new();
    for g in from.grants().await? {
        match check_grant(&g, &ids) {
            Ok((on, user_id, level)) => {
                let e = merged
                    .entry((on, g.resource.clone(), user_id))
                    .or_insert(level);
                *e = (*e).max(level);
            }
            Err(why) => report.skipped_grants.push(format!(
                "{} '{}' of {}: {why}",
                g.resource_type,
                g.resource,
                ids.get(&g.user_id)
                    .map_or_else(|| format!("user id {}", g.user_id), |(_, n)| n.clone())
            )),
        }
    }
    let mut merged: Vec<_> = merged.into_iter().collect();
    merged.sort_by(|a, b| (&a.0 .1, a.0 .2).cmp(&(&b.0 .1, b.0 .2)));
    for ((on, resource, user_id), level) in merged {
        to.auth_set_grant(on, &resource, user_id, level.as_str())
            .await?;
        report.grants += 1;
    }
    report.skipped_tables = from.other_tables().await?;
    Ok(report)
}

/// The resource kind, Weir user and level of one MLflow grant, or why it is not imported.
fn check_grant(
    g: &MlflowGrant,
    ids: &HashMap<i64, (i64, String)>,
) -> Result<(Grantable, i64, Permission), String> {
    let Some((user_id, _)) = ids.get(&g.user_id) else {
        return Err("its user was not imported".into());
    };
    let on = match g.resource_type.as_str() {
        "experiment" => Grantable::Experiment,
        "registered_model" => Grantable::RegisteredModel,
        other => return Err(format!("Weir has no '{other}' permissions")),
    };
    if let Some(ws) = g.workspace.as_deref().filter(|w| *w != DEFAULT_WORKSPACE) {
        return Err(format!("it belongs to MLflow workspace '{ws}'"));
    }
    if g.resource.is_empty() || g.resource.contains('*') {
        return Err("Weir grants name one resource, not a pattern".into());
    }
    match g.permission.as_deref().and_then(Permission::parse) {
        Some(p) => Ok((on, *user_id, p)),
        None => Err(format!(
            "unknown permission {:?}",
            g.permission.as_deref().unwrap_or("")
        )),
    }
}
