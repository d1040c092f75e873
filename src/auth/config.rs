//! The auth app's settings, read as MLflow reads them: an ini file named by
//! `MLFLOW_AUTH_CONFIG_PATH` (section `[mlflow]`: `default_permission`, `database_uri`,
//! `admin_username`, `admin_password`), and `MLFLOW_AUTH_ADMIN_PASSWORD`, which wins over the
//! file's password. Keys Weir does not use (`authorization_function`, cache sizes) are ignored.

use std::path::Path;

use super::Permission;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// What a user may do on a resource without a grant (MLflow's default: READ).
    pub default_permission: Permission,
    /// Where users and grants live; `None`: the backend store.
    pub database_uri: Option<String>,
    pub admin_username: String,
    pub admin_password: Option<Secret>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            default_permission: Permission::Read,
            database_uri: None,
            admin_username: "admin".into(),
            admin_password: None,
        }
    }
}

impl AuthConfig {
    /// From the environment: `MLFLOW_AUTH_CONFIG_PATH` (optional) and
    /// `MLFLOW_AUTH_ADMIN_PASSWORD`.
    pub fn from_env() -> anyhow::Result<AuthConfig> {
        let mut c = match std::env::var_os("MLFLOW_AUTH_CONFIG_PATH") {
            Some(p) => AuthConfig::from_file(Path::new(&p))?,
            None => AuthConfig::default(),
        };
        if let Some(p) = std::env::var("MLFLOW_AUTH_ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
        {
            c.admin_password = Some(Secret::new(p));
        }
        Ok(c)
    }

    pub fn from_file(path: &Path) -> anyhow::Result<AuthConfig> {
        let ini = ini::Ini::load_from_file(path)
            .map_err(|e| anyhow::anyhow!("reading the auth config {}: {e}", path.display()))?;
        let Some(section) = ini.section(Some("mlflow")) else {
            anyhow::bail!("the auth config {} has no [mlflow] section", path.display());
        };
        let mut c = AuthConfig::default();
        if let Some(p) = section.get("default_permission") {
            c.default_permission = match Permission::parse(p.trim()) {
                Some(Permission::Deny) | None => anyhow::bail!(
                    "default_permission '{p}' in {}: use one of {}",
                    path.display(),
                    Permission::NAMES
                ),
                Some(p) => p,
            };
        }
        if let Some(u) = section
            .get("database_uri")
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            c.database_uri = Some(u.to_owned());
        }
        if let Some(u) = section
            .get("admin_username")
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            c.admin_username = u.to_owned();
        }
        if let Some(p) = section.get("admin_password").filter(|p| !p.is_empty()) {
            c.admin_password = Some(Secret::new(p));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mlflows_ini() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("basic_auth.ini");
        std::fs::write(
            &p,
            "[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///basic_auth.db\n\
             admin_username = root\nadmin_password = a long enough secret\n\
             authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        )
        .unwrap();
        let c = AuthConfig::from_file(&p).unwrap();
        assert_eq!(c.default_permission, Permission::NoPermissions);
        assert_eq!(c.database_uri.as_deref(), Some("sqlite:///basic_auth.db"));
        assert_eq!(c.admin_username, "root");
        assert_eq!(c.admin_password.unwrap().expose(), "a long enough secret");
        std::fs::write(&p, "[mlflow]\ndefault_permission = ALL\n").unwrap();
        assert!(AuthConfig::from_file(&p).is_err());
        std::fs::write(&p, "[other]\n").unwrap();
        assert!(AuthConfig::from_file(&p).is_err());
    }
}
