//! `weir db upgrade`: apply pending schema migrations, then exit.

use crate::secret::SecretUri;
use crate::store::SqlStore;

pub async fn upgrade(backend_store_uri: &SecretUri) -> anyhow::Result<()> {
    let store = SqlStore::open(backend_store_uri.expose()).await?;
    tracing::info!(store = store.display_uri(), "schema is up to date");
    store.close().await;
    Ok(())
}
