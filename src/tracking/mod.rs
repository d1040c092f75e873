//! MLflow's tracking rules: validation limits, run naming, artifact locations, search schemas,
//! history sampling. Handlers call [`Tracking`]; it validates and calls the store.

pub mod names;
pub mod validation;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::search::{self, fields};
use crate::store::{
    ArtifactLocation, ExperimentSearch, NewRun, RunSearch, RunUpdate, TrackingStore,
};
use crate::types::*;
use validation as v;

/// Most experiments one runs/search may cover (each is a bound parameter).
pub const MAX_SEARCH_EXPERIMENTS: usize = 10_000;

/// Largest page any search returns (MLflow's SEARCH_MAX_RESULTS_THRESHOLD).
pub const MAX_RESULTS_THRESHOLD: i64 = 50_000;

/// The tracking service: MLflow's rules in front of the store.
#[derive(Clone)]
pub struct Tracking {
    pub store: Arc<dyn TrackingStore>,
    /// Root under which new experiments get `<root>/<id>` (e.g. `mlflow-artifacts:`).
    pub default_artifact_root: String,
}

/// Parse an experiment id the way MLflow reports a bad one.
pub fn parse_experiment_id(id: &str) -> Result<i64> {
    id.trim().parse::<i64>().map_err(|_| {
        Error::invalid(format!(
            "Invalid experiment ID '{id}'. Experiment ID must be a valid integer."
        ))
    })
}

impl Tracking {
    pub fn new(store: Arc<dyn TrackingStore>, default_artifact_root: String) -> Self {
        Tracking {
            store,
            default_artifact_root,
        }
    }

    fn root_location(&self) -> ArtifactLocation {
        ArtifactLocation::UnderRoot(self.default_artifact_root.clone())
    }

    pub async fn ensure_default_experiment(&self) -> Result<()> {
        self.store
            .ensure_default_experiment(self.root_location())
            .await
    }

    pub async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[KeyValue],
    ) -> Result<String> {
        v::experiment_name(name)?;
        for t in tags {
            v::experiment_tag(t)?;
        }
        let location = match artifact_location.filter(|l| !l.is_empty()) {
            Some(l) => {
                if l.starts_with("runs:") {
                    return Err(Error::invalid(format!(
                        "Artifact location cannot be a runs:/ URI. Given: '{l}'"
                    )));
                }
                // Stored as MLflow stores it; reading it later still passes the server's roots.
                let cwd = std::env::current_dir()
                    .map_err(|e| Error::internal("reading the working directory", e))?;
                ArtifactLocation::Given(crate::artifacts::location::absolute_if_local(l, &cwd))
            }
            None => self.root_location(),
        };
        self.store.create_experiment(name, location, tags).await
    }

    pub async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        self.store.get_experiment(parse_experiment_id(id)?).await
    }

    pub async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        self.store.get_experiment_by_name(name).await
    }

    pub async fn search_experiments(
        &self,
        view: ViewType,
        req: &SearchRequest,
    ) -> Result<Page<Experiment>> {
        let max_results = v::max_results(req.max_results.unwrap_or(1000), MAX_RESULTS_THRESHOLD)?;
        let q = ExperimentSearch {
            filter: search::filter_for(&fields::EXPERIMENTS, req.filter.as_deref())?,
            view,
            order_by: search::order_for(&fields::EXPERIMENTS, &req.order_by)?,
            max_results,
            offset: search::decode_page_token(req.page_token.as_deref())? as i64,
            visible: req.visible.clone(),
        };
        self.store.search_experiments(&q).await
    }

    pub async fn rename_experiment(&self, id: &str, new_name: &str) -> Result<()> {
        v::experiment_name(new_name)?;
        self.store
            .rename_experiment(parse_experiment_id(id)?, new_name)
            .await
    }

    pub async fn delete_experiment(&self, id: &str) -> Result<()> {
        self.store
            .set_experiment_lifecycle(parse_experiment_id(id)?, "deleted")
            .await
    }

    pub async fn restore_experiment(&self, id: &str) -> Result<()> {
        self.store
            .set_experiment_lifecycle(parse_experiment_id(id)?, "active")
            .await
    }

    pub async fn set_experiment_tag(&self, id: &str, tag: KeyValue) -> Result<()> {
        v::experiment_tag(&tag)?;
        self.store
            .set_experiment_tag(parse_experiment_id(id)?, &tag)
            .await
    }

    pub async fn delete_experiment_tag(&self, id: &str, key: &str) -> Result<()> {
        self.store
            .delete_experiment_tag(parse_experiment_id(id)?, key)
            .await
    }

    /// Create a run. The run name comes from `run_name`, else the `mlflow.runName` tag, else is
    /// generated (`clean-roo-100`); the tag is always set to the name.
    pub async fn create_run(
        &self,
        experiment_id: Option<&str>,
        user_id: Option<&str>,
        run_name: Option<&str>,
        start_time: Option<i64>,
        mut tags: Vec<KeyValue>,
    ) -> Result<Run> {
        let experiment_id = parse_experiment_id(experiment_id.unwrap_or("0"))?;
        for t in &tags {
            v::tag(t)?;
        }
        let tag_name = tags
            .iter()
            .rev()
            .find(|t| t.key == RUN_NAME_TAG)
            .map(|t| t.value.clone());
        let run_name = match (run_name.filter(|n| !n.is_empty()), tag_name) {
            (Some(n), Some(t)) if n != t => {
                return Err(Error::invalid(format!(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='{n}', mlflow.runName='{t}')."
                )))
            }
            (Some(n), _) => n.to_owned(),
            (None, Some(t)) if !t.is_empty() => t,
            _ => names::generate(),
        };
        tags.retain(|t| t.key != RUN_NAME_TAG);
        tags.push(KeyValue::new(RUN_NAME_TAG, run_name.clone()));
        let run = NewRun {
            experiment_id,
            user_id: user_id.unwrap_or("").to_owned(),
            run_name,
            start_time: start_time.unwrap_or_else(crate::store::now_ms),
            tags,
        };
        self.store.create_run(run).await
    }

    pub async fn get_run(&self, run_id: &str) -> Result<Run> {
        self.store.get_run(run_id).await
    }

    pub async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo> {
        if let Some(s) = &update.status {
            if !RUN_STATUSES.contains(&s.as_str()) {
                return Err(Error::invalid(format!(
                    "Invalid value {s} for parameter 'status' supplied. Valid values are {RUN_STATUSES:?}"
                )));
            }
        }
        self.store.update_run(run_id, update).await
    }

    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        self.store.set_run_lifecycle(run_id, "deleted").await
    }

    pub async fn restore_run(&self, run_id: &str) -> Result<()> {
        self.store.set_run_lifecycle(run_id, "active").await
    }

    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<NewMetric>,
        params: Vec<KeyValue>,
        tags: Vec<KeyValue>,
    ) -> Result<()> {
        v::batch_limits(metrics.len(), params.len(), tags.len())?;
        for m in &metrics {
            v::metric(m)?;
        }
        v::unique_param_keys(&params)?;
        for p in &params {
            v::param(p)?;
        }
        for t in &tags {
            v::tag(t)?;
        }
        if metrics.is_empty() && params.is_empty() && tags.is_empty() {
            // MLflow still checks the run exists.
            self.store.get_run(run_id).await?;
            return Ok(());
        }
        self.store.log_batch(run_id, &metrics, &params, &tags).await
    }

    pub async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        self.store.delete_tag(run_id, key).await
    }

    pub async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        for d in &datasets {
            v::dataset_input(d)?;
        }
        self.store.log_inputs(run_id, &datasets, &models).await
    }

    pub async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        self.store.log_outputs(run_id, &models).await
    }

    /// The 2.x client's `runs/log-model`: append the model's JSON to the run's history tag.
    pub async fn log_model(&self, run_id: &str, model_json: &str) -> Result<()> {
        let model: serde_json::Value = serde_json::from_str(model_json)
            .map_err(|e| Error::invalid(format!("Invalid model JSON: {e}")))?;
        if !model.is_object() {
            return Err(Error::invalid("Invalid model JSON: expected an object"));
        }
        let mut history: Vec<serde_json::Value> =
            match self.store.get_tag(run_id, LOGGED_MODELS_TAG).await? {
                Some(t) => serde_json::from_str(&t).unwrap_or_default(),
                None => Vec::new(),
            };
        history.push(model);
        let value = serde_json::to_string(&history)
            .map_err(|e| Error::internal("encoding model history", e))?;
        self.store
            .log_batch(run_id, &[], &[], &[KeyValue::new(LOGGED_MODELS_TAG, value)])
            .await
    }

    pub async fn metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<Metric>> {
        let max = max_results.unwrap_or(25_000).clamp(1, 1_000_000);
        let offset = search::decode_page_token(page_token)? as i64;
        let mut items = self
            .store
            .metric_history(run_id, key, max + 1, offset)
            .await?;
        let next_page_token = if items.len() as i64 > max {
            items.truncate(max as usize);
            // Only paginate when the client asked for pages (MLflow returns everything otherwise).
            Some(search::encode_page_token((offset + max) as u64))
        } else {
            None
        };
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub async fn search_runs(
        &self,
        experiment_ids: &[String],
        view: ViewType,
        req: &SearchRequest,
    ) -> Result<Page<Run>> {
        let max_results = v::max_results(req.max_results.unwrap_or(1000), MAX_RESULTS_THRESHOLD)?;
        if experiment_ids.len() > MAX_SEARCH_EXPERIMENTS {
            return Err(Error::invalid(format!(
                "Invalid value for experiment_ids: {} given; at most {MAX_SEARCH_EXPERIMENTS} may be searched at once.",
                experiment_ids.len()
            )));
        }
        let q = RunSearch {
            experiment_ids: experiment_ids
                .iter()
                .map(|e| parse_experiment_id(e))
                .collect::<Result<_>>()?,
            filter: search::filter_for(&fields::RUNS, req.filter.as_deref())?,
            view,
            order_by: search::order_for(&fields::RUNS, &req.order_by)?,
            max_results,
            cursor: search::Cursor::decode(req.page_token.as_deref())?,
        };
        self.store.search_runs(&q).await
    }
}
