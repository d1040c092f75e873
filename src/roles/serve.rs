//! `weir models serve`: bind first (liveness answers at once), then resolve, download and load
//! in the background while readiness says why it is not ready yet.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::serving::token::ScoringToken;
use crate::api::serving::HttpState;
use crate::config::ServeArgs;
use crate::serving::source::{self, ModelRef, SharedSource};
use crate::serving::Serving;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let token = match &args.auth_token_file {
        Some(path) => {
            let content = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "reading the token file {} (--auth-token-file)",
                    path.display()
                )
            })?;
            let token = ScoringToken::from_file_content(&content).map_err(|e| {
                anyhow::anyhow!("the token file {} (--auth-token-file): {e}", path.display())
            })?;
            tracing::info!("scoring routes require a bearer token (--auth-token-file)");
            Some(Arc::new(token))
        }
        None => None,
    };
    let config = args.serving.serving_config(&args.http);
    let mut serving = Serving::new(&args.model_uri, config).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(name) = &args.model_name {
        serving
            .rename_single(name)
            .map_err(|e| anyhow::anyhow!(e))?;
    }
    let serving = Arc::new(serving);
    let remote = serving
        .models
        .iter()
        .any(|m| matches!(m.model, ModelRef::Uri { .. }));
    let source: SharedSource = if remote {
        Arc::new(source::Remote::new(args.tracking_uri.expose()).map_err(|e| anyhow::anyhow!(e))?)
    } else {
        Arc::new(source::NoSource)
    };
    serving.start(source.clone(), None);
    {
        let serving = serving.clone();
        tokio::spawn(async move {
            for m in &serving.models {
                let mut versions = m.versions();
                if versions.wait_for(Option::is_some).await.is_err() {
                    return;
                }
            }
            tracing::info!("ready {:.0?} after start", started.elapsed());
        });
    }
    let stopped = CancellationToken::new();
    let grpc = super::start_grpc(
        &args.host,
        args.serving.grpc_port,
        HttpState::new(serving.clone(), args.http.max_body_bytes).with_token(token.clone()),
        args.http.limits(),
        stopped.clone(),
    )
    .await?;
    let router =
        crate::app::serving_app_with_token(serving.clone(), args.http.max_body_bytes, token);
    let routes: Vec<String> = serving
        .models
        .iter()
        .map(|m| format!("/v2/models/{}/infer", m.name))
        .collect();
    let uris = args.model_uri.join(", ");
    let stopping = {
        let s = serving.clone();
        async move { s.begin_shutdown() }
    };
    super::listen(
        &args.host,
        args.port,
        router,
        args.http.limits(),
        |local| {
            tracing::info!(
                model = uris,
                source = source.describe(),
                "Weir {} serving on http://{local} (/invocations, {}, /metrics)",
                env!("CARGO_PKG_VERSION"),
                routes.join(", "),
            )
        },
        stopping,
        stopped,
    )
    .await?;
    super::join_grpc(grpc).await
}
