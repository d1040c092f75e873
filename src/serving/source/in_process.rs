//! The registry and artifacts of this process (`weir server --serve-model`).

use std::path::Path;

use async_trait::async_trait;

use super::tree::{copy_tree, RepoTree};
use super::Source;
use crate::registry::Registry;
use crate::serving::model::Origin;

pub struct InProcess {
    pub registry: Registry,
}

#[async_trait]
impl Source for InProcess {
    async fn resolve(&self, uri: &str) -> Result<Origin, String> {
        let r = self.registry.resolve(uri).await.map_err(|e| e.message)?;
        Ok(Origin::from(r))
    }

    async fn fetch(&self, artifact_uri: &str, dest: &Path) -> Result<(), String> {
        let (repo, base) = self
            .registry
            .artifacts
            .resolve(artifact_uri)
            .await
            .map_err(|e| e.message)?;
        copy_tree(&RepoTree { repo, base }, dest).await
    }

    fn describe(&self) -> String {
        "the in-process registry".into()
    }
}
