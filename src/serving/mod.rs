//! Model serving: `models:/name@alias` → ONNX → `/invocations`, KServe V1/V2, `/metrics`, hot
//! reload.
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
//! - [`backend`]: ONNX Runtime (`ort`, loaded at run time) and `tract` behind one trait.
//! - [`pool`]: the inference worker threads and bounded admission (503 when full).
//! - [`model`]: a loaded version (schema, outputs, pool) and the serving configuration.
//! - [`served`]: the models a process serves, their status, and the hot-reload watcher.
//! - [`json`], [`decode`], [`kserve`], [`encode`], [`tensor`]: the wire formats, pure functions.
//! - [`http`]: the routes of both roles. [`metrics`]: `weir_*` Prometheus metrics.
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
pub mod cache;
pub mod decode;
pub mod encode;
pub mod http;
pub mod json;
pub mod kserve;
pub mod metrics;
pub mod mlmodel;
pub mod model;
pub mod pool;
pub mod served;
pub mod source;
pub mod tensor;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

pub use model::{LoadedModel, ServingConfig};
pub use served::{ServedModel, Serving};
pub use source::{ModelRef, SharedSource};

use crate::config::ServeArgs;

/// `weir models serve`: bind first (liveness answers at once), then resolve, download and load in
/// the background while readiness says why it is not ready yet.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = ServingConfig::from_args(&args.serving, &args.http);
    let mut serving = Serving::new(std::slice::from_ref(&args.model_uri), config)
        .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(name) = &args.model_name {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            anyhow::bail!("--model-name '{name}': use letters, digits, '-', '_' and '.' only");
        }
        if let Some(m) = serving.models.first_mut().and_then(Arc::get_mut) {
            m.name = name.clone();
        }
    }
    let serving = Arc::new(serving);
    let source: SharedSource = match &serving.models[0].model {
        ModelRef::Dir(_) => Arc::new(source::NoSource),
        ModelRef::Uri { .. } => Arc::new(
            source::Remote::new(args.tracking_uri.expose()).map_err(|e| anyhow::anyhow!(e))?,
        ),
    };
    let addr = crate::config::socket_addr(&args.host, args.port)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(
        model = args.model_uri,
        source = source.describe(),
        "Weir {} serving on http://{local} (/invocations, /v2/models/{}/infer, /metrics)",
        env!("CARGO_PKG_VERSION"),
        serving.models[0].name,
    );
    serving.start(source, None);
    let mut versions = serving.models[0].versions();
    tokio::spawn(async move {
        if versions.wait_for(Option::is_some).await.is_ok() {
            tracing::info!("ready {:.0?} after start", started.elapsed());
        }
    });
    let s = serving.clone();
    let shutdown = async move {
        crate::server::shutdown_signal().await;
        s.begin_shutdown();
    };
    crate::server::run(
        http::standalone_router(serving, args.http.max_body_bytes),
        listener,
        shutdown,
        args.http.limits(),
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}

/// `weir server --serve-model`: serve from this process's registry, reloading as soon as an alias
/// moves (`alias_moves`), and polling for stage changes.
pub fn start_in_process(
    uris: &[String],
    config: ServingConfig,
    registry: crate::registry::Registry,
    artifacts: crate::artifacts::Artifacts,
    alias_moves: tokio::sync::watch::Receiver<u64>,
) -> anyhow::Result<Arc<Serving>> {
    let serving = Arc::new(Serving::new(uris, config).map_err(|e| anyhow::anyhow!(e))?);
    if !serving.models.is_empty() {
        let source: SharedSource = Arc::new(source::InProcess {
            registry,
            artifacts,
        });
        serving.start(source, Some(alias_moves));
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
