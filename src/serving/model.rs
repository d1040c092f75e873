//! A loaded model version: its MLmodel, input schema, output specs and the worker pool that runs
//! it. Requests hold an `Arc<LoadedModel>` from start to finish, so a hot swap never disturbs
//! them; the pool (and the engine's sessions) go away with the last request.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::backend::{self, BackendChoice, BackendKind};
use super::codec::Schema;
use super::metrics::metrics;
use super::mlmodel::{Field, MlModel};
use super::pool::{Batching, InferError, Permit, Pool, PoolMetrics};
use super::tensor::{Spec, Tensor, Value};

/// How models are loaded and run (from `ServingArgs`).
#[derive(Debug, Clone)]
pub struct ServingConfig {
    pub backend: BackendChoice,
    /// Worker threads (and sessions) per model.
    pub workers: usize,
    /// Requests that may wait for a worker.
    pub queue_size: usize,
    /// Alias/stage poll interval; `None` disables polling.
    pub poll_interval: Option<std::time::Duration>,
    pub model_cache: PathBuf,
    /// Most rows one request may carry.
    pub max_rows: usize,
    /// Longest one scoring request may take (body, decode, queue, inference).
    pub request_timeout: std::time::Duration,
    /// Adaptive batching.
    pub batching: Batching,
}

impl Default for ServingConfig {
    fn default() -> Self {
        ServingConfig {
            backend: BackendChoice::Auto,
            workers: 1,
            queue_size: 256,
            poll_interval: Some(std::time::Duration::from_secs(5)),
            model_cache: PathBuf::from("./.weir-cache"),
            max_rows: super::codec::DEFAULT_MAX_ROWS,
            request_timeout: std::time::Duration::from_secs(60),
            batching: Batching::default(),
        }
    }
}

impl From<crate::registry::Resolved> for Origin {
    fn from(r: crate::registry::Resolved) -> Origin {
        Origin {
            version: r.version,
            run_id: r.run_id,
            model_id: r.model_id,
            artifact_uri: r.artifact_uri,
        }
    }
}

/// Where a loaded version came from.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Origin {
    /// The registry version, when the URI named a registered model.
    pub version: Option<String>,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    /// The directory the files came from.
    pub artifact_uri: String,
}

impl Origin {
    /// The version label served in `x-weir-model-version` and KServe's `versions`: the registry
    /// version, else the logged model or run id, else `local`.
    pub fn label(&self) -> String {
        self.version
            .clone()
            .or_else(|| self.model_id.clone())
            .or_else(|| self.run_id.clone())
            .unwrap_or_else(|| "local".to_owned())
    }
}

pub struct LoadedModel {
    /// The served name (KServe's `<name>`).
    pub name: String,
    /// The version label (see [`Origin::label`]).
    pub version: String,
    pub origin: Origin,
    pub backend: BackendKind,
    pub schema: Schema,
    pub outputs: Vec<Spec>,
    /// The local directory the model was loaded from.
    pub dir: PathBuf,
    pool: Pool,
    version_metric: prometheus::IntGauge,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Parse `dir/MLmodel`, load its ONNX graph (or its sklearn, xgboost or lightgbm model) and
    /// start the workers. Blocking: call it from `spawn_blocking`.
    pub fn load(
        dir: &Path,
        name: &str,
        origin: Origin,
        cfg: &ServingConfig,
    ) -> Result<LoadedModel, String> {
        let started = Instant::now();
        let mlmodel = MlModel::read(dir)?;
        // An ONNX graph when the model has one; else a flavor Weir evaluates itself.
        let (engine, file) = match (mlmodel.onnx_data.is_some(), mlmodel.native_flavor()) {
            (false, Some((flavor, conf))) => (
                backend::native::load(dir, &mlmodel, flavor, conf, cfg.workers)?,
                dir.to_path_buf(),
            ),
            _ => {
                let onnx = mlmodel.onnx_path(dir)?;
                (backend::load(cfg.backend, &onnx, cfg.workers)?, onnx)
            }
        };
        if let Some(bad) = engine
            .inputs
            .iter()
            .find(|s| !matches!(s.kind, super::tensor::Kind::Tensor { .. }))
        {
            return Err(format!("the model input '{}' is not a tensor", bad.name));
        }
        let columns = engine
            .columns
            .clone()
            .or_else(|| column_names(&mlmodel, engine.inputs.len()));
        let version = origin.label();
        let m = metrics();
        let pool_metrics = PoolMetrics {
            inference: m.inference_seconds.with_label_values(&[
                name,
                &version,
                engine.backend.as_str(),
            ]),
            queue_wait: m.queue_wait_seconds.with_label_values(&[name]),
            queue_depth: m.queue_depth.with_label_values(&[name]),
            batch_rows: m.batch_rows.with_label_values(&[name]),
        };
        // Only a model whose every input has a free first dimension takes merged batches.
        let batchable = engine.inputs.iter().all(|s| {
            matches!(&s.kind, super::tensor::Kind::Tensor { shape, .. } if shape.first().is_some_and(|&d| d < 0))
        });
        let batching = if batchable {
            cfg.batching
        } else {
            Batching::OFF
        };
        let pool = Pool::start(name, engine.runners, cfg.queue_size, batching, pool_metrics)
            .map_err(|e| format!("cannot start inference threads: {e}"))?;
        tracing::info!(
            model = name,
            version,
            backend = engine.backend.as_str(),
            workers = pool.workers(),
            inputs = ?engine.inputs.iter().map(|s| &s.name).collect::<Vec<_>>(),
            outputs = ?engine.outputs.iter().map(|s| &s.name).collect::<Vec<_>>(),
            "loaded {} in {:.1?}",
            file.display(),
            started.elapsed()
        );
        Ok(LoadedModel {
            name: name.to_owned(),
            version_metric: m.loaded_version.with_label_values(&[name, &version]),
            version,
            origin,
            backend: engine.backend,
            schema: Schema {
                inputs: engine.inputs,
                columns,
                max_rows: cfg.max_rows,
            },
            outputs: engine.outputs,
            dir: dir.to_path_buf(),
            pool,
        })
    }

    /// Take a place in this model's admission limit (workers + queue), or `Saturated` at once.
    /// Hold it from decoding to the answer; dropping it (the client left) frees the place.
    pub fn admit(&self) -> Result<Permit, InferError> {
        let r = self.pool.admit();
        if r.is_err() {
            metrics().rejected.with_label_values(&[&self.name]).inc();
        }
        r
    }

    /// Run an admitted request on the worker pool.
    pub async fn infer(
        &self,
        permit: Permit,
        inputs: Vec<Tensor>,
    ) -> Result<Vec<Value>, InferError> {
        self.pool.infer(permit, inputs).await
    }

    /// Mark this version as the one served (for `weir_model_loaded_version`).
    pub fn mark_serving(&self, serving: bool) {
        self.version_metric.set(i64::from(serving));
        if !serving {
            let _ = metrics()
                .loaded_version
                .remove_label_values(&[&self.name, &self.version]);
        }
    }

    pub fn in_flight(&self) -> usize {
        self.pool.in_flight()
    }
}

/// Column names from a column-based signature, used to match DataFrame inputs by name when the
/// ONNX graph has a single tensor input.
fn column_names(m: &MlModel, onnx_inputs: usize) -> Option<Vec<String>> {
    let sig = m.signature.as_ref()?;
    if onnx_inputs != 1 || sig.inputs.len() < 2 {
        return None;
    }
    sig.inputs
        .iter()
        .map(|f| match f {
            Field::Column { name: Some(n), .. } => Some(n.clone()),
            _ => None,
        })
        .collect()
}
