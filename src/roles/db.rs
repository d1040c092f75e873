//! `weir db upgrade`: apply pending schema migrations, then exit. `weir db import`: copy an
//! MLflow tracking database into Weir's store, print what was copied, then exit.

use crate::config::DbImportArgs;
use crate::secret::SecretUri;
use crate::store::mlflow_import::{self, ImportOptions};
use crate::store::SqlStore;

pub async fn upgrade(backend_store_uri: &SecretUri) -> anyhow::Result<()> {
    let store = SqlStore::open(backend_store_uri.expose()).await?;
    tracing::info!(store = store.display_uri(), "schema is up to date");
    store.close().await;
    Ok(())
}

pub async fn import(args: &DbImportArgs) -> anyhow::Result<()> {
    let opts = ImportOptions {
        force: args.force,
        batch_size: args.batch_size as usize,
    };
    let summary =
        mlflow_import::import(args.from.expose(), args.backend_store_uri.expose(), &opts).await?;
    print!("{summary}");
    Ok(())
}
