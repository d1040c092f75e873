//! Model versions: registration (with MLflow 3.17's source rules, [`super::source`]), reads,
//! updates, stages, deletion, search, tags, download locations, and aliases with their history.

use super::{
    parse_version, source, validate_alias, validate_model_name, validate_tag, Registry,
    MAX_VERSIONS_PER_PAGE,
};
use crate::error::{Error, Result};
use crate::search::{self, fields};
use crate::store::{NewModelVersion, RegistrySearch};
use crate::types::*;

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

impl Registry {
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
        self.moved();
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
    /// a JSON list of `{"name", "version"}`, as MLflow's `json.dumps` writes it).
    async fn tag_logged_model_with_version(
        &self,
        model_id: &str,
        name: &str,
        version: &str,
    ) -> Result<()> {
        let lm = self.store.get_logged_model(model_id).await?;
        // As MLflow writes it: the version a number, the list in `json.dumps`'s spacing.
        let version: i64 = parse_version(version)?;
        let entry = serde_json::json!({"name": name, "version": version});
        let mut list: Vec<serde_json::Value> = lm
            .info
            .tags
            .iter()
            .find(|t| t.key == MODEL_VERSIONS_TAG)
            .and_then(|t| serde_json::from_str(&t.value).ok())
            .unwrap_or_default();
        // Entries older Weir releases wrote with the version as a string.
        for e in &mut list {
            if let Some(v) = e.get("version").and_then(|v| v.as_str()) {
                if let Ok(n) = v.parse::<i64>() {
                    e["version"] = n.into();
                }
            }
        }
        if !list.contains(&entry) {
            list.push(entry);
        }
        let value = crate::types::pyjson::dumps(&serde_json::Value::Array(list));
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
        let v = self
            .store
            .transition_stage(name, parse_version(version)?, stage, archive_existing)
            .await?;
        self.moved();
        Ok(v)
    }

    pub async fn delete_model_version(&self, name: &str, version: &str) -> Result<()> {
        self.store
            .delete_model_version(name, parse_version(version)?)
            .await?;
        self.moved();
        Ok(())
    }

    pub async fn search_model_versions(&self, req: &SearchRequest) -> Result<Page<ModelVersion>> {
        let max = req.max_results.unwrap_or(10_000);
        if !(1..=MAX_VERSIONS_PER_PAGE).contains(&max) {
            return Err(Error::invalid(format!(
                "Invalid value for request parameter max_results. It must be at most {MAX_VERSIONS_PER_PAGE}, but got value {max}"
            )));
        }
        let q = RegistrySearch {
            filter: search::filter_for(&fields::MODEL_VERSIONS, req.filter.as_deref())?,
            order_by: search::order_for(&fields::MODEL_VERSIONS, &req.order_by)?,
            max_results: max,
            offset: search::decode_page_token(req.page_token.as_deref())? as i64,
            visible: req.visible.clone(),
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
            .await?;
        self.moved();
        Ok(())
    }

    pub async fn delete_alias(&self, name: &str, alias: &str, by: Option<&str>) -> Result<()> {
        self.store.get_registered_model(name).await?;
        self.store.delete_alias(name, alias, by).await?;
        self.moved();
        Ok(())
    }

    pub async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        self.store.get_version_by_alias(name, alias).await
    }

    pub async fn alias_history(&self, name: &str, alias: Option<&str>) -> Result<Vec<AliasEvent>> {
        self.store.get_registered_model(name).await?;
        self.store.alias_history(name, alias).await
    }
}
