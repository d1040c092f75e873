//! MLflow 3 logged models: create, finalize, search (reads, tags and params go to the store).

use super::Registry;
use crate::error::{Error, Result};
use crate::search::{self, fields, OrderBy};
use crate::store::{DatasetFilter, LoggedModelSearch, NewLoggedModel};
use crate::tracking::{parse_experiment_id, validation};
use crate::types::*;

/// A `logged-models/search` request: its ordering comes as `{field_name, ascending}` objects.
#[derive(Debug, Clone, Default)]
pub struct LoggedModelQuery {
    pub experiment_ids: Vec<String>,
    pub filter: Option<String>,
    /// `(dataset_name, dataset_digest)` pairs from the request's `datasets`.
    pub datasets: Vec<(Option<String>, Option<String>)>,
    pub order_by: Vec<OrderBy>,
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
    /// The experiments whose models the caller may read (the auth layer's filter).
    pub visible: crate::types::Visible,
}

impl Registry {
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

    pub async fn search_logged_models(&self, req: LoggedModelQuery) -> Result<Page<LoggedModel>> {
        let max = req.max_results.unwrap_or(100);
        if !(1..=crate::tracking::MAX_RESULTS_THRESHOLD).contains(&max) {
            return Err(Error::invalid(format!(
                "Invalid value {max} for parameter 'max_results'"
            )));
        }
        let datasets = req
            .datasets
            .into_iter()
            .map(|(name, digest)| match name.filter(|n| !n.is_empty()) {
                Some(name) => Ok(DatasetFilter { name, digest }),
                None => Err(Error::invalid(
                    "`dataset_name` in the `datasets` clause must be specified.",
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut order = req.order_by;
        for o in &mut order {
            fields::LOGGED_MODELS.validate_order(o)?;
        }
        // Page tokens of other servers carry more than the offset; only the offset matters here.
        let offset = search::decode_page_token(req.page_token.as_deref())? as i64;
        let q = LoggedModelSearch {
            experiment_ids: req
                .experiment_ids
                .iter()
                .map(|e| parse_experiment_id(e))
                .collect::<Result<_>>()?,
            filter: search::filter_for(&fields::LOGGED_MODELS, req.filter.as_deref())?,
            datasets,
            order_by: order,
            max_results: max,
            offset,
            visible: req.visible,
        };
        self.store.search_logged_models(&q).await
    }
}
