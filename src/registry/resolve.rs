//! Resolving `models:/` and `runs:/` URIs to a version and the directory holding its MLmodel
//! file: MLflow's rules, written once. Where the facts come from is a [`Lookup`]: this process's
//! registry (`weir server`, and Weir's one-call resolver endpoint) or a tracking server's REST
//! API (`weir models serve`, also against MLflow itself).
//!
//! - `@alias`, `/<version>`, `/<stage>` (newest version in it), `/latest` (newest version) name a
//!   registered version; its download location may itself be `runs:/...` or `models:/m-<id>`.
//! - `models:/m-<id>` is an MLflow 3 logged model's own location.
//! - `runs:/<run>/<path>` is `<path>` under the run's artifacts (2.x), or else the MLflow 3 logged
//!   model named `<path>` that the run produced.

use async_trait::async_trait;

use super::uri::ModelUri;
use super::Registry;
use crate::error::{Error, Result};
use crate::search::{self, fields};
use crate::store::RegistrySearch;

/// What a model URI resolves to: which version, and where its files are.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Resolved {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// The directory holding the MLmodel file.
    pub artifact_uri: String,
}

/// A registered model version, as far as resolution needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRef {
    pub name: String,
    pub version: String,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
}

/// A logged model (MLflow 3), as far as resolution needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRef {
    pub model_id: String,
    pub artifact_uri: String,
    pub source_run_id: Option<String>,
}

/// The facts resolution reads, wherever the registry is.
#[async_trait]
pub trait Lookup: Send + Sync {
    async fn version_by_alias(&self, name: &str, alias: &str) -> Result<VersionRef>;
    async fn version(&self, name: &str, version: i64) -> Result<VersionRef>;
    /// The newest version in `stage` (canonical spelling), if any.
    async fn latest_in_stage(&self, name: &str, stage: &str) -> Result<Option<VersionRef>>;
    /// The newest version of the model, if any (an unknown model is an error).
    async fn latest(&self, name: &str) -> Result<Option<VersionRef>>;
    /// Where a version's files are (`get-download-uri`).
    async fn download_uri(&self, v: &VersionRef) -> Result<String>;
    async fn logged_model(&self, model_id: &str) -> Result<LoggedRef>;
    /// A run's artifact root and experiment id.
    async fn run(&self, run_id: &str) -> Result<(String, String)>;
    /// Whether the run has files at `path` under its artifacts (`location` is that directory).
    async fn has_files(&self, run_id: &str, location: &str, path: &str) -> bool;
    /// The logged model named `name` that `run_id` produced in `experiment_id`, if any.
    async fn logged_model_named(
        &self,
        experiment_id: &str,
        name: &str,
        run_id: &str,
    ) -> Result<Option<LoggedRef>>;
}

/// Resolve `uri` with the facts `l` gives.
pub async fn resolve(l: &dyn Lookup, uri: &str) -> Result<Resolved> {
    let v = match ModelUri::parse(uri)? {
        ModelUri::Alias { name, alias } => l.version_by_alias(&name, &alias).await?,
        ModelUri::Version { name, version } => l.version(&name, version).await?,
        ModelUri::Stage { name, stage } => {
            l.latest_in_stage(&name, &stage).await?.ok_or_else(|| {
                Error::not_found(format!(
                    "No versions of model with name '{name}' and stage '{stage}' found"
                ))
            })?
        }
        ModelUri::Latest { name } => l.latest(&name).await?.ok_or_else(|| {
            Error::not_found(format!("No versions of model with name '{name}' found"))
        })?,
        ModelUri::LoggedModel { model_id } => {
            let lm = l.logged_model(&model_id).await?;
            return Ok(Resolved {
                name: None,
                version: None,
                run_id: lm.source_run_id,
                model_id: Some(model_id),
                artifact_uri: lm.artifact_uri,
            });
        }
        ModelUri::Run { run_id, path } => {
            let (artifact_uri, model_id) = run_location(l, &run_id, &path).await?;
            return Ok(Resolved {
                name: None,
                version: None,
                run_id: Some(run_id),
                model_id,
                artifact_uri,
            });
        }
    };
    let location = l.download_uri(&v).await?;
    let (artifact_uri, run_id, model_id) = match ModelUri::parse(&location) {
        Ok(ModelUri::Run { run_id, path }) => {
            let (uri, model_id) = run_location(l, &run_id, &path).await?;
            (uri, Some(run_id), model_id)
        }
        Ok(ModelUri::LoggedModel { model_id }) => {
            let lm = l.logged_model(&model_id).await?;
            (lm.artifact_uri, lm.source_run_id, Some(model_id))
        }
        _ => (location, None, None),
    };
    Ok(Resolved {
        name: Some(v.name),
        version: Some(v.version),
        run_id: v.run_id.or(run_id),
        model_id: v.model_id.or(model_id),
        artifact_uri,
    })
}

/// Where `runs:/<run>/<path>` lives, and the logged model when it is one.
async fn run_location(
    l: &dyn Lookup,
    run_id: &str,
    path: &str,
) -> Result<(String, Option<String>)> {
    let (root, experiment_id) = l.run(run_id).await?;
    let root = root.trim_end_matches('/');
    if path.is_empty() {
        return Ok((root.to_owned(), None));
    }
    let candidate = format!("{root}/{path}");
    if l.has_files(run_id, &candidate, path).await {
        return Ok((candidate, None));
    }
    match l.logged_model_named(&experiment_id, path, run_id).await? {
        Some(lm) => Ok((lm.artifact_uri, Some(lm.model_id))),
        None => Ok((candidate, None)),
    }
}

fn version_ref(v: crate::types::ModelVersion) -> VersionRef {
    VersionRef {
        name: v.name,
        version: v.version,
        run_id: v.run_id,
        model_id: v.model_id,
    }
}

fn logged_ref(lm: crate::types::LoggedModel) -> LoggedRef {
    LoggedRef {
        model_id: lm.info.model_id,
        artifact_uri: lm.info.artifact_uri,
        source_run_id: Some(lm.info.source_run_id).filter(|r| !r.is_empty()),
    }
}

/// This process's registry as a [`Lookup`].
#[async_trait]
impl Lookup for Registry {
    async fn version_by_alias(&self, name: &str, alias: &str) -> Result<VersionRef> {
        Ok(version_ref(
            self.store.get_version_by_alias(name, alias).await?,
        ))
    }

    async fn version(&self, name: &str, version: i64) -> Result<VersionRef> {
        Ok(version_ref(
            self.store.get_model_version(name, version).await?,
        ))
    }

    async fn latest_in_stage(&self, name: &str, stage: &str) -> Result<Option<VersionRef>> {
        Ok(self
            .store
            .latest_versions(name, &[stage.to_owned()])
            .await?
            .into_iter()
            .next()
            .map(version_ref))
    }

    async fn latest(&self, name: &str) -> Result<Option<VersionRef>> {
        self.store.get_registered_model(name).await?;
        let q = RegistrySearch {
            filter: search::filter_for(
                &fields::MODEL_VERSIONS,
                Some(&format!("name = '{}'", name.replace('\'', "''"))),
            )?,
            order_by: search::order_for(
                &fields::MODEL_VERSIONS,
                &["version_number DESC".to_owned()],
            )?,
            max_results: 1,
            offset: 0,
            visible: crate::types::Visible::All,
        };
        Ok(self
            .store
            .search_model_versions(&q)
            .await?
            .items
            .into_iter()
            .next()
            .map(version_ref))
    }

    async fn download_uri(&self, v: &VersionRef) -> Result<String> {
        self.download_uri(&v.name, &v.version).await
    }

    async fn logged_model(&self, model_id: &str) -> Result<LoggedRef> {
        Ok(logged_ref(self.store.get_logged_model(model_id).await?))
    }

    async fn run(&self, run_id: &str) -> Result<(String, String)> {
        let run = self.tracking.get_run(run_id).await?;
        Ok((run.info.artifact_uri, run.info.experiment_id))
    }

    async fn has_files(&self, _run_id: &str, location: &str, _path: &str) -> bool {
        match self.artifacts.resolve(location).await {
            Ok((repo, rel)) => !repo.list(&rel).await.unwrap_or_default().is_empty(),
            Err(_) => false,
        }
    }

    async fn logged_model_named(
        &self,
        experiment_id: &str,
        name: &str,
        run_id: &str,
    ) -> Result<Option<LoggedRef>> {
        let found = self
            .search_logged_models(super::logged_models::LoggedModelQuery {
                experiment_ids: vec![experiment_id.to_owned()],
                filter: Some(format!(
                    "name = '{}' AND source_run_id = '{}'",
                    name.replace('\'', "''"),
                    run_id.replace('\'', "''")
                )),
                max_results: Some(1),
                ..Default::default()
            })
            .await?;
        Ok(found.items.into_iter().next().map(logged_ref))
    }
}

impl Registry {
    /// Resolve a model URI to its version and the directory holding its MLmodel file; a location
    /// this server would not read is refused here too.
    pub async fn resolve(&self, uri: &str) -> Result<Resolved> {
        let r = resolve(self, uri).await?;
        self.artifacts.check_readable(&r.artifact_uri).await?;
        Ok(r)
    }
}
