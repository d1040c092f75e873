//! `weir models serve`: bind first (liveness answers at once), then resolve, download and load
//! in the background while readiness says why it is not ready yet.

use std::sync::Arc;
use std::time::Instant;

use crate::config::ServeArgs;
use crate::serving::source::{self, ModelRef, SharedSource};
use crate::serving::Serving;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = args.serving.serving_config(&args.http);
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
    serving.start(source.clone(), None);
    let mut versions = serving.models[0].versions();
    tokio::spawn(async move {
        if versions.wait_for(Option::is_some).await.is_ok() {
            tracing::info!("ready {:.0?} after start", started.elapsed());
        }
    });
    let router = crate::app::serving_app(serving.clone(), args.http.max_body_bytes);
    let name = serving.models[0].name.clone();
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
                model = args.model_uri,
                source = source.describe(),
                "Weir {} serving on http://{local} (/invocations, /v2/models/{name}/infer, /metrics)",
                env!("CARGO_PKG_VERSION"),
            )
        },
        stopping,
    )
    .await
}
