//! The model registry's rules: names, stages, aliases (and their history), version sources,
//! download locations, MLflow 3 logged models, and resolution of `models:/` and `runs:/` URIs
//! to the files to serve.

pub mod source;
pub mod uri;

use std::sync::Arc;

use crate::artifacts::Artifacts;
use crate::error::{Error, Result};
use crate::search::{self, fields, OrderBy};
use crate::store::{
    LoggedModelSearch, NewLoggedModel, NewModelVersion, RegistrySearch, RegistryStore,
    TrackingStore,
};
use crate::tracking::{parse_experiment_id, validation};
use crate::types::*;
use crate::types::{KeyValue, Page};
pub use uri::ModelUri;

/// A `model-versions/create` request, as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct NewVersionRequest {
    pub name: String,
    pub source: String,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    /// Whether the request carried `run_id` / `model_id` at all (even empty): a copied version
    /// keeps the source version's unless the request names its own.
    pub has_run_id: bool,
    pub has_model_id: bool,
    pub tags: Vec<KeyValue>,
    pub description: Option<String>,
    pub run_link: Option<String>,
}

/// Most registered models one search page returns (MLflow's limit).
const MAX_MODELS_PER_PAGE: i64 = 1000;
/// Most model versions one search page returns.
const MAX_VERSIONS_PER_PAGE: i64 = 200_000;

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

#[derive(Clone)]
pub struct Registry {
    pub store: Arc<dyn RegistryStore>,
    pub tracking: Arc<dyn TrackingStore>,
    pub artifacts: Artifacts,
}

pub fn parse_version(v: &str) -> Result<i64> {
    v.trim()
        .parse::<i64>()
        .map_err(|_| Error::invalid(format!("Model version must be an integer, got '{v}'")))
}

fn validate_model_name(name: &str) -> Result<()> {
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

fn validate_tag(what: &str, t: &KeyValue) -> Result<()> {
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
        }
    }

    pub async fn create_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &[KeyValue],
    ) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        for t in tags {
            validate_tag("Registered model", t)?;
        }
        self.store
            .create_registered_model(name, description, tags)
            .await
    }

    pub async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        self.store.get_registered_model(name).await
    }

    pub async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        self.store.update_registered_model(name, description).await
    }

    pub async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        validate_model_name(new_name)?;
        self.store.rename_registered_model(name, new_name).await
    }

    pub async fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.store.delete_registered_model(name).await
    }

    pub async fn search_registered_models(
        &self,
        filter: Option<&str>,
        order_by: &[String],
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>> {
        let max = max_results.unwrap_or(100);
        if !(1..=MAX_MODELS_PER_PAGE).contains(&max) {
            return Err(Error::invalid(format!(
                "Invalid value for request parameter max_results. It must be at most {MAX_MODELS_PER_PAGE}, but got value {max}"
            )));
        }
        let q = RegistrySearch {
            filter: search::filter_for(&fields::REGISTERED_MODELS, filter)?,
            order_by: search::order_for(&fields::REGISTERED_MODELS, order_by)?,
            max_results: max,
            offset: search::decode_page_token(page_token)? as i64,
        };
        self.store.search_registered_models(&q).await
    }

    pub async fn set_registered_model_tag(&self, name: &str, tag: KeyValue) -> Result<()> {
        validate_tag("Registered model", &tag)?;
        self.store.set_registered_model_tag(name, &tag).await
    }

    pub async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        self.store.delete_registered_model_tag(name, key).await
    }

    pub async fn latest_versions(
        &self,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>> {
        let stages = stages
            .iter()
            .map(|s| canonical_stage(s).map(str::to_owned))
            .collect::<Result<Vec<_>>>()?;
        self.store.latest_versions(name, &stages).await
    }

    /// Register a version. The source is checked by MLflow 3.17's rules ([`source`]): local paths
    /// and `mlflow-artifacts:` sources must lie inside the named run's (or logged model's)
    /// artifacts, `runs:/` and `models:/m-<id>` must name the request's run or model, nothing may
    /// climb with `..`, and host-addressed schemes must target the server's own storage.
    pub async fn create_model_version(&self, req: NewVersionRequest) -> Result<ModelVersion> {
        validate_model_name(&req.name)?;
        for t in &req.tags {
            validate_tag("Model version", t)?;
        }
        if req.source.is_empty() {
            return Err(Error::missing("source"));
        }
        self.artifacts.host_policy().check(&req.source, "source")?;
        let (source, run_id, model_id) = self.source_lineage(&req).await?;
        let run_id = run_id.filter(|r| !r.is_empty());
        let model_id = model_id.filter(|m| !m.is_empty());
        match &model_id {
            Some(id) => {
                let location = match self.store.get_logged_model(id).await {
                    Ok(lm) => Some(lm.info.artifact_uri),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                };
                source::check_source(
                    &source,
                    &source::Owner {
                        id_name: "model_id",
                        id: Some(id),
                        artifact_location: location.as_deref(),
                    },
                )?;
            }
            None => {
                let location = match &run_id {
                    Some(r) => match self.tracking.get_run(r).await {
                        Ok(run) => Some(run.info.artifact_uri),
                        Err(e) if e.is_not_found() => None,
                        Err(e) => return Err(e),
                    },
                    None => None,
                };
                source::check_source(
                    &source,
                    &source::Owner {
                        id_name: "run_id",
                        id: run_id.as_deref(),
                        artifact_location: location.as_deref(),
                    },
                )?;
            }
        }
        // Where the files are: a logged model's location, a copied version's, else the source.
        let mut run_id = run_id;
        let mut storage_location = source.clone();
        match source::parse_models_uri(&source) {
            Some(source::ModelsUri::Id(id)) => {
                let lm = self.store.get_logged_model(&id).await?;
                storage_location = lm.info.artifact_uri.clone();
                if run_id.is_none() && !lm.info.source_run_id.is_empty() {
                    run_id = Some(lm.info.source_run_id.clone());
                }
            }
            Some(source::ModelsUri::Version { name, version }) => {
                storage_location = self
                    .store
                    .get_model_version(&name, parse_version(&version)?)
                    .await?
                    .storage_location;
            }
            _ => {}
        }
        if run_id.is_none() {
            if let Some(id) = &model_id {
                let lm = self.store.get_logged_model(id).await?;
                run_id = Some(lm.info.source_run_id).filter(|r| !r.is_empty());
            }
        }
        let name = req.name.clone();
        let v = NewModelVersion {
            name: req.name,
            source,
            run_id,
            model_id: model_id.clone(),
            tags: req.tags,
            description: req.description,
            run_link: req.run_link,
            storage_location,
            user_id: None,
        };
        let mut mv = self.store.create_model_version(v).await?;
        mv.aliases.clear();
        if let Some(id) = &model_id {
            self.tag_logged_model_with_version(id, &name, &mv.version)
                .await?;
        }
        Ok(mv)
    }

    /// A `models:/<name>/<version|stage|alias>` source copies a registered version: it becomes
    /// `models:/<name>/<version>` with that version's run and model, unless the request names
    /// others (MLflow's `_resolve_registered_model_source_lineage`).
    async fn source_lineage(
        &self,
        req: &NewVersionRequest,
    ) -> Result<(String, Option<String>, Option<String>)> {
        let unchanged = || Ok((req.source.clone(), req.run_id.clone(), req.model_id.clone()));
        let p = source::split_uri(&req.source);
        if p.scheme != "models" {
            return unchanged();
        }
        if !p.netloc.is_empty() {
            return Err(Error::invalid(format!(
                "Invalid model version source: '{}'. Registered model sources must use the active model registry.",
                req.source
            )));
        }
        let bad = || {
            Error::invalid(format!(
                "Invalid model version source: '{}'. The model_id request parameter must identify the resource that contains the source.",
                req.source
            ))
        };
        let parsed = source::parse_models_uri(&req.source).ok_or_else(bad)?;
        let mv = match parsed {
            source::ModelsUri::Id(_) => return unchanged(),
            source::ModelsUri::Version { name, version } => {
                self.store
                    .get_model_version(&name, parse_version(&version)?)
                    .await?
            }
            source::ModelsUri::Alias { name, alias } => {
                self.store.get_version_by_alias(&name, &alias).await?
            }
            source::ModelsUri::Stage { name, stage } => {
                let stage = canonical_stage(&stage)?;
                self.store
                    .latest_versions(&name, &[stage.to_owned()])
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(bad)?
            }
            source::ModelsUri::Latest { name } => self
                .store
                .latest_versions(&name, &[])
                .await?
                .into_iter()
                .max_by_key(|v| v.version.parse::<i64>().unwrap_or(0))
                .ok_or_else(bad)?,
        };
        let same = |given: &Option<String>, theirs: &Option<String>| {
            given.as_deref().unwrap_or("") == theirs.as_deref().unwrap_or("")
        };
        if (req.has_run_id && !same(&req.run_id, &mv.run_id))
            || (req.has_model_id && !same(&req.model_id, &mv.model_id))
        {
            return Err(Error::invalid(format!(
                "Invalid model version source: '{}'. The run_id and model_id request parameters must match the referenced model version.",
                req.source
            )));
        }
        Ok((
            format!("models:/{}/{}", mv.name, mv.version),
            if req.has_run_id {
                req.run_id.clone()
            } else {
                mv.run_id.clone()
            },
            if req.has_model_id {
                req.model_id.clone()
            } else {
                mv.model_id.clone()
            },
        ))
    }

    /// Record on a logged model which registered versions came from it (`mlflow.modelVersions`,
    /// a JSON list of `{"name", "version"}`).
    async fn tag_logged_model_with_version(
        &self,
        model_id: &str,
        name: &str,
        version: &str,
    ) -> Result<()> {
        let lm = self.store.get_logged_model(model_id).await?;
        let entry = serde_json::json!({"name": name, "version": version});
        let mut list: Vec<serde_json::Value> = lm
            .info
            .tags
            .iter()
            .find(|t| t.key == MODEL_VERSIONS_TAG)
            .and_then(|t| serde_json::from_str(&t.value).ok())
            .unwrap_or_default();
        if !list.contains(&entry) {
            list.push(entry);
        }
        let value = serde_json::to_string(&list)
            .map_err(|e| Error::internal("encoding mlflow.modelVersions", e))?;
        self.store
            .set_logged_model_tags(model_id, &[KeyValue::new(MODEL_VERSIONS_TAG, value)])
            .await
    }

    pub async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        self.store
            .get_model_version(name, parse_version(version)?)
            .await
    }

    pub async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: &str,
    ) -> Result<ModelVersion> {
        let mut v = self
            .store
            .update_model_version(name, parse_version(version)?, description)
            .await?;
        v.aliases.clear();
        Ok(v)
    }

    pub async fn transition_stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing: bool,
    ) -> Result<ModelVersion> {
        let stage = canonical_stage(stage)?;
        self.store
            .transition_stage(name, parse_version(version)?, stage, archive_existing)
            .await
    }

    pub async fn delete_model_version(&self, name: &str, version: &str) -> Result<()> {
        self.store
            .delete_model_version(name, parse_version(version)?)
            .await
    }

    pub async fn search_model_versions(
        &self,
        filter: Option<&str>,
        order_by: &[String],
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<ModelVersion>> {
        let max = max_results.unwrap_or(10_000);
        if !(1..=MAX_VERSIONS_PER_PAGE).contains(&max) {
            return Err(Error::invalid(format!(
                "Invalid value for request parameter max_results. It must be at most {MAX_VERSIONS_PER_PAGE}, but got value {max}"
            )));
        }
        let q = RegistrySearch {
            filter: search::filter_for(&fields::MODEL_VERSIONS, filter)?,
            order_by: search::order_for(&fields::MODEL_VERSIONS, order_by)?,
            max_results: max,
            offset: search::decode_page_token(page_token)? as i64,
        };
        self.store.search_model_versions(&q).await
    }

    pub async fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        tag: KeyValue,
    ) -> Result<()> {
        validate_tag("Model version", &tag)?;
        self.store
            .set_model_version_tag(name, parse_version(version)?, &tag)
            .await
    }

    pub async fn delete_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<()> {
        self.store
            .delete_model_version_tag(name, parse_version(version)?, key)
            .await
    }

    /// What `get-download-uri` answers: the stored location (`runs:/` and `mlflow-artifacts:/`
    /// sources verbatim, `models:/m-<id>` as the logged model's artifact location).
    pub async fn download_uri(&self, name: &str, version: &str) -> Result<String> {
        Ok(self
            .get_model_version(name, version)
            .await?
            .storage_location)
    }

    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        by: Option<&str>,
    ) -> Result<()> {
        validate_alias(alias)?;
        self.store
            .set_alias(name, alias, parse_version(version)?, by)
            .await
    }

    pub async fn delete_alias(&self, name: &str, alias: &str, by: Option<&str>) -> Result<()> {
        self.store.get_registered_model(name).await?;
        self.store.delete_alias(name, alias, by).await
    }

    pub async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        self.store.get_version_by_alias(name, alias).await
    }

    pub async fn alias_history(&self, name: &str, alias: Option<&str>) -> Result<Vec<AliasEvent>> {
        self.store.get_registered_model(name).await?;
        self.store.alias_history(name, alias).await
    }

    // ---- MLflow 3 logged models ----

    pub async fn create_logged_model(
        &self,
        experiment_id: &str,
        name: Option<String>,
        source_run_id: Option<String>,
        model_type: Option<String>,
        params: Vec<KeyValue>,
        tags: Vec<KeyValue>,
    ) -> Result<LoggedModel> {
        for t in &tags {
            validation::tag(t)?;
        }
        for p in &params {
            validation::param(p)?;
        }
        let name = name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(crate::tracking::names::generate);
        self.store
            .create_logged_model(NewLoggedModel {
                experiment_id: parse_experiment_id(experiment_id)?,
                name,
                source_run_id: source_run_id.filter(|r| !r.is_empty()),
                model_type,
                params,
                tags,
            })
            .await
    }

    pub async fn finalize_logged_model(&self, model_id: &str, status: &str) -> Result<LoggedModel> {
        if !LOGGED_MODEL_STATUSES.contains(&status) {
            return Err(Error::invalid(format!(
                "Invalid logged model status '{status}'. Valid values are {LOGGED_MODEL_STATUSES:?}"
            )));
        }
        self.store.finalize_logged_model(model_id, status).await
    }

    pub async fn search_logged_models(
        &self,
        experiment_ids: &[String],
        filter: Option<&str>,
        order_by: Vec<OrderBy>,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<LoggedModel>> {
        let max = max_results.unwrap_or(100);
        if !(1..=crate::tracking::MAX_RESULTS_THRESHOLD).contains(&max) {
            return Err(Error::invalid(format!(
                "Invalid value {max} for parameter 'max_results'"
            )));
        }
        let mut order = order_by;
        for o in &mut order {
            fields::LOGGED_MODELS.validate_order(o)?;
        }
        // Page tokens of other servers carry more than the offset; only the offset matters here.
        let offset = search::decode_page_token(page_token)? as i64;
        let q = LoggedModelSearch {
            experiment_ids: experiment_ids
                .iter()
                .map(|e| parse_experiment_id(e))
                .collect::<Result<_>>()?,
            filter: search::filter_for(&fields::LOGGED_MODELS, filter)?,
            order_by: order,
            max_results: max,
            offset,
        };
        self.store.search_logged_models(&q).await
    }

    // ---- resolution ----

    /// Resolve a model URI to its version and the directory holding its MLmodel file.
    pub async fn resolve(&self, uri: &str) -> Result<Resolved> {
        let mv = match ModelUri::parse(uri)? {
            ModelUri::Alias { name, alias } => {
                self.store.get_version_by_alias(&name, &alias).await?
            }
            ModelUri::Version { name, version } => {
                self.store.get_model_version(&name, version).await?
            }
            ModelUri::Stage { name, stage } => self
                .store
                .latest_versions(&name, std::slice::from_ref(&stage))
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "No versions of model with name '{name}' and stage '{stage}' found"
                    ))
                })?,
            ModelUri::Latest { name } => {
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
                };
                self.store.get_registered_model(&name).await?;
                self.store
                    .search_model_versions(&q)
                    .await?
                    .items
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        Error::not_found(format!("No versions of model with name '{name}' found"))
                    })?
            }
            ModelUri::LoggedModel { model_id } => {
                let lm = self.store.get_logged_model(&model_id).await?;
                return Ok(Resolved {
                    name: None,
                    version: None,
                    run_id: Some(lm.info.source_run_id).filter(|r| !r.is_empty()),
                    model_id: Some(model_id),
                    artifact_uri: lm.info.artifact_uri,
                });
            }
            ModelUri::Run { run_id, path } => {
                let (artifact_uri, model_id) = self.run_model_location(&run_id, &path).await?;
                return Ok(Resolved {
                    name: None,
                    version: None,
                    run_id: Some(run_id),
                    model_id,
                    artifact_uri,
                });
            }
        };
        let artifact_uri = match ModelUri::parse(&mv.storage_location) {
            Ok(ModelUri::Run { run_id, path }) => self.run_model_location(&run_id, &path).await?.0,
            Ok(ModelUri::LoggedModel { model_id }) => {
                self.store
                    .get_logged_model(&model_id)
                    .await?
                    .info
                    .artifact_uri
            }
            _ => mv.storage_location.clone(),
        };
        self.artifacts.check_readable(&artifact_uri).await?;
        Ok(Resolved {
            name: Some(mv.name),
            version: Some(mv.version),
            run_id: mv.run_id,
            model_id: mv.model_id,
            artifact_uri,
        })
    }

    /// Where `runs:/<run>/<path>` lives: under the run's artifacts (2.x), or the MLflow 3 logged
    /// model of that name the run produced.
    async fn run_model_location(
        &self,
        run_id: &str,
        path: &str,
    ) -> Result<(String, Option<String>)> {
        let run = self.tracking.get_run(run_id).await?;
        let base = run.info.artifact_uri.trim_end_matches('/').to_owned();
        let candidate = if path.is_empty() {
            base.clone()
        } else {
            format!("{base}/{path}")
        };
        if let Ok((repo, rel)) = self.artifacts.resolve(&candidate).await {
            if !repo.list(&rel).await.unwrap_or_default().is_empty() {
                return Ok((candidate, None));
            }
        }
        if !path.is_empty() {
            let found = self
                .search_logged_models(
                    std::slice::from_ref(&run.info.experiment_id),
                    Some(&format!(
                        "name = '{}' AND source_run_id = '{}'",
                        path.replace('\'', "''"),
                        run_id
                    )),
                    Vec::new(),
                    Some(1),
                    None,
                )
                .await?;
            if let Some(lm) = found.items.into_iter().next() {
                return Ok((lm.info.artifact_uri, Some(lm.info.model_id)));
            }
        }
        Ok((candidate, None))
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
