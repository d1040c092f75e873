//! The model registry's rules: names, stages, aliases (and their history), version sources,
//! download locations, MLflow 3 logged models, and resolution of `models:/` and `runs:/` URIs
//! to the files to serve.
//!
//! - [`models`]: registered models and their tags; [`versions`]: versions, stages and aliases;
//!   [`logged_models`]: MLflow 3 logged models; [`source`]: which sources a version may have;
//!   [`resolve`]: model URIs to files; [`uri`]: the URI grammar.
//! - Whatever moves what a `models:/` URI names (an alias or stage, a new or deleted version, a
//!   renamed or deleted model) is announced on [`Registry::subscribe`]: in-process serving
//!   reloads at once, whichever path made the move.

pub mod logged_models;
pub mod models;
pub mod resolve;
pub mod source;
pub mod uri;
pub mod versions;

use std::sync::Arc;

use crate::artifacts::Artifacts;
use crate::error::{Error, Result};
use crate::store::{RegistryStore, TrackingStore};
use crate::tracking::validation;
use crate::types::KeyValue;
pub use resolve::{LoggedRef, Lookup, Resolved, VersionRef};
pub use uri::ModelUri;

pub use logged_models::LoggedModelQuery;
pub use versions::NewVersionRequest;

/// Most registered models one search page returns (MLflow's limit).
pub(crate) const MAX_MODELS_PER_PAGE: i64 = 1000;
/// Most model versions one search page returns.
pub(crate) const MAX_VERSIONS_PER_PAGE: i64 = 200_000;

#[derive(Clone)]
pub struct Registry {
    pub store: Arc<dyn RegistryStore>,
    pub tracking: Arc<dyn TrackingStore>,
    pub artifacts: Artifacts,
    /// Bumped whenever what a `models:/` URI names may have moved.
    moves: Arc<tokio::sync::watch::Sender<u64>>,
}

pub fn parse_version(v: &str) -> Result<i64> {
    v.trim().parse::<i64>().map_err(|_| {
        Error::invalid(format!(
            "Parameter 'version' must be an integer, got '{v}'."
        ))
    })
}

pub(crate) fn validate_model_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("Registered model name cannot be empty."));
    }
    if name.len() > 256 {
        return Err(Error::invalid(
            "Registered model name is too long (at most 256 characters).",
        ));
    }
    Ok(())
}

pub(crate) fn validate_tag(what: &str, t: &KeyValue) -> Result<()> {
    validation::tag(&KeyValue::new(t.key.clone(), String::new()))?;
    if t.value.chars().count() > 5000 {
        return Err(Error::invalid(format!(
            "{what} value '{}' had length {}, which exceeded length limit of 5000",
            t.value.chars().take(250).collect::<String>(),
            t.value.chars().count()
        )));
    }
    Ok(())
}

/// Alias rules: `[A-Za-z0-9_-]`, at most 255 characters, not `latest`, not `v<N>`.
pub fn validate_alias(alias: &str) -> Result<()> {
    if alias.is_empty()
        || alias.len() > 255
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Error::invalid(format!(
            "Invalid alias name: '{alias}'. Alias names may only contain alphanumerics, underscores (_) and dashes (-), at most 255 characters."
        )));
    }
    if alias.eq_ignore_ascii_case("latest") {
        return Err(Error::invalid(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    let lower = alias.to_ascii_lowercase();
    if let Some(n) = lower.strip_prefix('v') {
        if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid(format!(
                "Version alias name '{alias}' is reserved."
            )));
        }
    }
    Ok(())
}
impl Registry {
    pub fn new(
        store: Arc<dyn RegistryStore>,
        tracking: Arc<dyn TrackingStore>,
        artifacts: Artifacts,
    ) -> Self {
        Registry {
            store,
            tracking,
            artifacts,
            moves: Arc::new(tokio::sync::watch::channel(0).0),
        }
    }

    /// Follow moves of what `models:/` URIs name (the value only counts moves).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.moves.subscribe()
    }

    /// Announce that what a `models:/` URI names may have moved.
    fn moved(&self) {
        self.moves.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases() {
        assert!(validate_alias("champion").is_ok());
        assert!(validate_alias("champion-2_b").is_ok());
        assert_eq!(
            validate_alias("v3").unwrap_err().message,
            "Version alias name 'v3' is reserved."
        );
        assert!(validate_alias("V12").is_err());
        assert!(validate_alias("latest").is_err());
        assert!(validate_alias("vx").is_ok());
        assert!(validate_alias("").is_err());
        assert!(validate_alias("a b").is_err());
    }
}
