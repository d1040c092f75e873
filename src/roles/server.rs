//! `weir server`: the tracking and registry APIs, the artifact proxy, the UI and (with
//! `--serve-model`) in-process serving, on one port.

use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::serving::HttpState;
use crate::app::{app, AppState};
use crate::artifacts::Artifacts;
use crate::config::ServerArgs;
use crate::store::SqlStore;

/// The artifact root new experiments get, following `mlflow server`'s rules.
pub fn default_artifact_root(args: &ServerArgs) -> anyhow::Result<String> {
    if let Some(root) = &args.default_artifact_root {
        return resolve_local(root);
    }
    if args.proxy_artifacts() {
        return Ok("mlflow-artifacts:".to_owned());
    }
    resolve_local("./mlruns")
}

/// A local path (relative to the working directory) becomes an absolute `file://` URI; URIs with
/// a scheme pass through.
fn resolve_local(root: &str) -> anyhow::Result<String> {
    if root.contains(":/") || root.starts_with("mlflow-artifacts:") {
        return Ok(root.trim_end_matches('/').to_owned());
    }
    let abs = std::path::absolute(root).with_context(|| format!("resolving {root}"))?;
    Ok(format!(
        "file://{}",
        abs.to_string_lossy().trim_end_matches('/')
    ))
}

/// Build the state for `weir server` (shared by the binary and the integration tests).
pub async fn server_state(args: &ServerArgs) -> anyhow::Result<AppState> {
    let store = Arc::new(
        SqlStore::open_within(args.backend_store_uri.expose(), args.db_connect_timeout()).await?,
    );
    let root = default_artifact_root(args)?;
    let proxied = if args.proxy_artifacts() {
        let repo = crate::artifacts::open(&args.artifacts_destination)
            .await
            .with_context(|| {
                format!(
                    "while opening the artifact destination {}",
                    args.artifacts_destination
                )
            })?;
        tracing::info!(destination = repo.describe(), "proxying artifacts");
        Some(repo)
    } else {
        None
    };
    let destination = resolve_local(&args.artifacts_destination)?;
    let artifacts = Artifacts::confined(proxied, &[&root, &destination]);
    let mut state = AppState::new(store, artifacts, root, args.http.max_body_bytes);
    state.security = Arc::new(
        crate::security::Policy::new(&crate::security::Settings {
            listen_host: &args.host,
            allowed_hosts: &args.allowed_hosts,
            cors_allowed_origins: &args.cors_allowed_origins,
            x_frame_options: &args.x_frame_options,
            trusted_proxies: &args.trusted_proxies,
        })
        .map_err(|e| anyhow::anyhow!(e))?,
    );
    state.request_timeout = args.http.request_timeout();
    state
        .tracking
        .ensure_default_experiment()
        .await
        .map_err(|e| anyhow::anyhow!("creating the Default experiment: {}", e.message))?;
    if args.app_name.is_some() {
        let config = crate::auth::AuthConfig::from_env()?;
        let auth_store = match &config.database_uri {
            Some(uri) if uri != args.backend_store_uri.expose() => Arc::new(
                SqlStore::open_within(uri, args.db_connect_timeout())
                    .await
                    .context("opening the auth database (database_uri in the auth config)")?,
            ),
            _ => state.store.clone(),
        };
        let auth = crate::auth::Auth::start(auth_store, &config, args.public_metrics).await?;
        tracing::info!(
            admin = config.admin_username,
            default_permission = config.default_permission.as_str(),
            "basic-auth on"
        );
        state.auth = Some(Arc::new(auth));
    }
    let cipher = crate::webhooks::Cipher::new(
        args.webhooks
            .secret_encryption_key
            .as_ref()
            .map(|k| k.expose()),
    )?;
    if cipher.ephemeral {
        tracing::info!(
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is not set: webhook secrets saved now will not sign after a restart"
        );
    }
    state.webhooks = Some(
        crate::webhooks::Webhooks::new(state.store.clone(), args.webhooks.settings(), cipher)
            .context("setting up webhooks")?,
    );
    state.serving = Some(crate::serving::start_in_process(
        &args.serve_model,
        args.serving.serving_config(&args.http),
        state.registry.clone(),
    )?);
    Ok(state)
}

/// `weir server`: open the store and artifact repositories, then serve every API and the UI.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    if args.serving.grpc_port.is_some() && args.serve_model.is_empty() {
        anyhow::bail!("--grpc-port serves models over gRPC: give --serve-model too");
    }
    let state = server_state(&args).await?;
    tracing::info!(
        store = state.store.display_uri(),
        dialect = state.store.dialect().name(),
        artifact_root = state.tracking.default_artifact_root,
        "backend store ready"
    );
    let stopping = {
        let s = state.clone();
        async move { s.begin_shutdown() }
    };
    let stopped = CancellationToken::new();
    let grpc = match &state.serving {
        Some(serving) => {
            let scoring = HttpState::new(serving.clone(), args.http.max_body_bytes);
            let (host, port) = (&args.host, args.serving.grpc_port);
            super::start_grpc(host, port, scoring, args.http.limits(), stopped.clone()).await?
        }
        None => None,
    };
    let store = state.store.clone();
    let deliverer = state.webhooks.as_ref().map(|w| {
        let d = crate::webhooks::deliver::Deliverer {
            store: w.store().clone(),
            sender: w.sender().clone(),
            cipher: w.cipher().clone(),
            settings: w.settings.clone(),
            wake: store.webhook_signal(),
        };
        tokio::spawn(d.run(stopped.clone()))
    });
    let served = super::listen(
        &args.host,
        args.port,
        app(state),
        args.http.limits(),
        |local| {
            tracing::info!(
                "Weir {} listening on http://{local} (tracking API at /api/2.0/mlflow, metrics at /metrics) after {:.0?}",
                env!("CARGO_PKG_VERSION"),
                started.elapsed()
            )
        },
        stopping,
        stopped.clone(),
    )
    .await;
    let grpc = super::join_grpc(grpc).await;
    stopped.cancel();
    if let Some(d) = deliverer {
        // In-flight sends finish (bounded by the webhook request timeout) before the pool closes.
        let _ = d.await;
    }
    store.close().await;
    served.and(grpc)
}
