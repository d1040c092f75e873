//! Model serving: `models:/name@alias` → the model as MLflow logged it (ONNX, or scikit-learn,
//! XGBoost and LightGBM read natively) → `/invocations`, KServe V1/V2, `/metrics`, hot reload.
//!
//! ```text
//! model URI ─► source (resolve) ─► cache (download once, atomically) ─► model (MLmodel + backend)
//!                                                                          │
//!        served: ArcSwapOption<LoadedModel> ◄── watcher (alias moved? load, then swap) ◄┘
//!                  │
//! request ─► http ─► decode (pure) ─► pool (worker threads own the sessions) ─► encode (pure)
//! ```
//!
//! - [`source`]: resolving URIs in-process (`weir server`) or over MLflow's REST API
//!   (`weir models serve`), and downloading model directories.
//! - [`cache`]: the on-disk cache, one directory per version, published atomically.
//! - [`mlmodel`]: the `MLmodel` file: flavors, the onnx flavor's file, the signature.
//! - [`backend`]: ONNX Runtime (`ort`, loaded at run time), `tract` and `native` (the flavors
//!   below) behind one trait.
//! - [`flavors`]: MLflow's sklearn, xgboost and lightgbm files read with no Python: a pickle
//!   interpreter that executes nothing, skops, UBJSON, the estimators and one tree walk.
//! - [`pool`]: the inference worker threads, bounded admission (503 when full) and adaptive
//!   batching ([`batch`]: merging requests' tensors and splitting the answers).
//! - [`model`]: a loaded version (schema, outputs, pool) and the serving configuration.
//! - [`served`]: the models a process serves, their status, and the hot-reload watcher.
//! - [`codec`]: the wire formats (MLflow JSON and CSV, KServe V2, answers), pure functions;
//!   [`tensor`]: the runtime's tensor types. [`metrics`]: `weir_*` Prometheus metrics.
//! - The HTTP handlers are in [`crate::api::serving`]; the routers in [`crate::app`].
//!
//! Where Weir answers differently from `mlflow models serve` 3.17.2 (everything else follows
//! `scoring_onnx_champion.txt`, and `tests/serving.rs` replays that capture):
//!
//! - CSV works for tensor-signature models (columns in order, cast to the input's dtype); MLflow
//!   answers 400 `TensorSpec only supports numpy types`. A first line of numbers is data, not a
//!   header; a leading unnamed column (the DataFrame index) is dropped.
//! - `{"inputs": {"<onnx input name>": ...}}` is accepted for a single-input model (MLflow: 400).
//! - A missing Content-Type is 415 (MLflow: 500); Parquet is 415 (Weir has no Parquet reader).
//! - Schema errors say `Failed to enforce schema of data with schema '[Tensor(...)]'. Error: ...`
//!   without MLflow's pandas rendering of the data; codes and classes are MLflow's.
//! - Responses always carry `x-weir-model-version`; 503s carry `Retry-After`.

pub mod backend;
pub mod batch;
pub mod cache;
pub mod codec;
pub mod flavors;
pub mod metrics;
pub mod mlmodel;
pub mod model;
pub mod pool;
pub mod served;
pub mod source;
pub mod tensor;

pub use model::{LoadedModel, ServingConfig};
pub use served::{ServedModel, Serving};
pub use source::{ModelRef, SharedSource};

use std::sync::Arc;

/// `weir server --serve-model`: serve from this process's registry, reloading as soon as the
/// registry announces a move (an alias, a stage, a new or deleted version), and polling too.
pub fn start_in_process(
    uris: &[String],
    config: ServingConfig,
    registry: crate::registry::Registry,
) -> anyhow::Result<Arc<Serving>> {
    let serving = Arc::new(Serving::new(uris, config).map_err(|e| anyhow::anyhow!(e))?);
    if !serving.models.is_empty() {
        let moves = registry.subscribe();
        let source: SharedSource = Arc::new(source::InProcess { registry });
        serving.start(source, Some(moves));
        for m in &serving.models {
            tracing::info!(
                model = m.name,
                uri = m.model.display(),
                "serving at /models/{}/invocations and /v2/models/{}/infer",
                m.name,
                m.name
            );
        }
    }
    Ok(serving)
}
