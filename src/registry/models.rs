//! Registered models: create, read, rename, delete, search, tags, and the newest version per
//! stage.

use super::{validate_model_name, validate_tag, Registry, MAX_MODELS_PER_PAGE};
use crate::error::{Error, Result};
use crate::search::{self, fields};
use crate::store::RegistrySearch;
use crate::types::*;

impl Registry {
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
        let m = self.store.rename_registered_model(name, new_name).await?;
        self.moved();
        Ok(m)
    }

    pub async fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.store.delete_registered_model(name).await?;
        self.moved();
        Ok(())
    }

    pub async fn search_registered_models(
        &self,
        req: &SearchRequest,
    ) -> Result<Page<RegisteredModel>> {
        let max = req.max_results.unwrap_or(100);
        if !(1..=MAX_MODELS_PER_PAGE).contains(&max) {
            return Err(Error::invalid(format!(
                "Invalid value for request parameter max_results. It must be at most {MAX_MODELS_PER_PAGE}, but got value {max}"
            )));
        }
        let q = RegistrySearch {
            filter: search::filter_for(&fields::REGISTERED_MODELS, req.filter.as_deref())?,
            order_by: search::order_for(&fields::REGISTERED_MODELS, &req.order_by)?,
            max_results: max,
            offset: search::decode_page_token(req.page_token.as_deref())? as i64,
            visible: req.visible.clone(),
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
}
