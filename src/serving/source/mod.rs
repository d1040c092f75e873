//! Where models come from: resolving a model URI to a version and an artifact location, and
//! downloading that location's files.
//!
//! - [`InProcess`] (`weir server --serve-model`): the registry and artifact repositories of the
//!   same process.
//! - [`Remote`] (`weir models serve`): a tracking server over HTTP, using MLflow's own REST
//!   endpoints (so it works against MLflow too), or Weir's one-call resolver when present.
//! - A local directory holding an `MLmodel` needs neither ([`NoSource`]).
//!
//! Both sources resolve by the registry's one set of rules ([`crate::registry::resolve`]) and
//! download through one tree walk ([`tree`]).

mod in_process;
mod remote;
pub mod tree;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

pub use in_process::InProcess;
pub use remote::Remote;

use super::model::Origin;
use crate::registry::ModelUri;

/// The model a server was asked to serve.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelRef {
    /// A `models:/` or `runs:/` URI.
    Uri { uri: String, parsed: ModelUri },
    /// A local directory holding an `MLmodel` file.
    Dir(PathBuf),
}

impl ModelRef {
    pub fn parse(s: &str) -> Result<ModelRef, String> {
        let s = s.trim();
        if s.starts_with("models:/") || s.starts_with("runs:/") {
            let parsed = ModelUri::parse(s).map_err(|e| e.message)?;
            return Ok(ModelRef::Uri {
                uri: s.to_owned(),
                parsed,
            });
        }
        if s.is_empty() {
            return Err("the model URI is empty".into());
        }
        let path = s.strip_prefix("file://").unwrap_or(s);
        if path.contains("://") {
            return Err(format!(
                "unsupported model URI '{s}': use models:/<name>@<alias>, models:/<name>/<version or stage>, models:/m-<id>, runs:/<run_id>/<path> or a local directory"
            ));
        }
        let p = PathBuf::from(path);
        Ok(ModelRef::Dir(std::path::absolute(&p).unwrap_or(p)))
    }

    /// The name the model is served under (KServe's `<name>`): the registered model's name, else
    /// the logged model id, the run's artifact path, or the directory's name.
    pub fn served_name(&self) -> String {
        match self {
            ModelRef::Uri { parsed, .. } => match parsed {
                ModelUri::Alias { name, .. }
                | ModelUri::Stage { name, .. }
                | ModelUri::Version { name, .. }
                | ModelUri::Latest { name } => name.clone(),
                ModelUri::LoggedModel { model_id } => model_id.clone(),
                ModelUri::Run { run_id, path } => path
                    .rsplit('/')
                    .find(|s| !s.is_empty())
                    .unwrap_or(run_id)
                    .to_owned(),
            },
            ModelRef::Dir(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".to_owned()),
        }
    }

    /// Whether what the URI points at can change (an alias, a stage, `latest`): only those are
    /// watched.
    pub fn is_moving(&self) -> bool {
        matches!(
            self,
            ModelRef::Uri {
                parsed: ModelUri::Alias { .. } | ModelUri::Stage { .. } | ModelUri::Latest { .. },
                ..
            }
        )
    }

    pub fn display(&self) -> String {
        match self {
            ModelRef::Uri { uri, .. } => uri.clone(),
            ModelRef::Dir(p) => p.display().to_string(),
        }
    }
}

/// Resolves model URIs and downloads model directories.
#[async_trait]
pub trait Source: Send + Sync {
    /// Which version the URI names now, and where its files are.
    async fn resolve(&self, uri: &str) -> Result<Origin, String>;
    /// Copy every file under `artifact_uri` into `dest` (an empty directory).
    async fn fetch(&self, artifact_uri: &str, dest: &Path) -> Result<(), String>;
    /// For logs.
    fn describe(&self) -> String;
}

/// An artifact URI that is a directory on this machine, loaded in place (no copy).
pub fn local_dir(artifact_uri: &str) -> Option<PathBuf> {
    let p = artifact_uri.strip_prefix("file://").unwrap_or(artifact_uri);
    let p = Path::new(p);
    (p.is_absolute() && !artifact_uri.contains(":/") || artifact_uri.starts_with("file://"))
        .then(|| p.to_path_buf())
}

/// A source for `weir models serve -m <directory>`: nothing to resolve or download.
pub struct NoSource;

#[async_trait]
impl Source for NoSource {
    async fn resolve(&self, uri: &str) -> Result<Origin, String> {
        Err(format!("cannot resolve '{uri}' without a tracking server"))
    }
    async fn fetch(&self, artifact_uri: &str, _dest: &Path) -> Result<(), String> {
        Err(format!(
            "cannot download '{artifact_uri}' without a tracking server"
        ))
    }
    fn describe(&self) -> String {
        "the local file system".into()
    }
}

pub type SharedSource = Arc<dyn Source>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs() {
        let r = ModelRef::parse("models:/iris-onnx@champion").unwrap();
        assert_eq!(r.served_name(), "iris-onnx");
        assert!(r.is_moving());
        let r = ModelRef::parse("models:/iris/3").unwrap();
        assert!(!r.is_moving());
        assert!(ModelRef::parse("models:/iris/Production")
            .unwrap()
            .is_moving());
        assert!(ModelRef::parse("models:/iris/latest").unwrap().is_moving());
        assert_eq!(
            ModelRef::parse("models:/m-abc").unwrap().served_name(),
            "m-abc"
        );
        assert_eq!(
            ModelRef::parse("runs:/abc/sub/model")
                .unwrap()
                .served_name(),
            "model"
        );
        let d = ModelRef::parse("models/iris-rf").unwrap();
        assert_eq!(d.served_name(), "iris-rf");
        let ModelRef::Dir(p) = &d else { panic!() };
        assert!(p.is_absolute());
        assert!(matches!(
            ModelRef::parse("file:///tmp/x").unwrap(),
            ModelRef::Dir(_)
        ));
        assert!(ModelRef::parse("s3://bucket/model").is_err());
        assert!(ModelRef::parse("models:/").is_err());
        assert!(ModelRef::parse("  ").is_err());
    }

    #[test]
    fn local_artifact_uris_load_in_place() {
        assert_eq!(local_dir("/srv/a"), Some(PathBuf::from("/srv/a")));
        assert_eq!(local_dir("file:///srv/a"), Some(PathBuf::from("/srv/a")));
        assert_eq!(local_dir("mlflow-artifacts:/1/x"), None);
        assert_eq!(local_dir("s3://b/x"), None);
        assert_eq!(local_dir("relative/x"), None);
    }
}
