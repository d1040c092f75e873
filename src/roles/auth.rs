//! `weir auth import`: copy an MLflow basic-auth database's users and permissions into Weir's
//! store, print what was done and skipped, then exit.

use anyhow::Context;

use crate::config::ImportArgs;
use crate::store::mlflow_auth::MlflowAuthDb;
use crate::store::SqlStore;

pub async fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let from = MlflowAuthDb::open(args.from.expose())
        .await
        .with_context(|| format!("opening MLflow's auth database {}", args.from.redacted()))?;
    let to = SqlStore::open(args.backend_store_uri.expose()).await?;
    let report = crate::auth::import::import(&from, &to, args.overwrite)
        .await
        .map_err(|e| anyhow::anyhow!("importing users: {}", e.message))?;
    from.close().await;
    to.close().await;
    print!("{report}");
    Ok(())
}
