//! Copying a model directory to the local cache, from wherever it is: an artifact repository
//! (local directory, S3) or a tracking server's artifact proxy over HTTP. One walk for both,
//! bounded in files and depth, taking every name as a single safe path segment.

use std::path::Path;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::artifacts::{safe_path, ArtifactRepo, RelPath};

/// Most files one model directory may hold (a guard against a runaway listing).
const MAX_FILES: usize = 10_000;
/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 16;

/// One entry of a directory listing.
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}

/// A directory tree that can be listed and read.
#[async_trait]
pub trait Tree: Send + Sync {
    /// The entries directly under `dir` (relative to the tree's root; empty for the root).
    async fn list(&self, dir: &RelPath) -> Result<Vec<Entry>, String>;
    /// The bytes of the file at `path`.
    async fn read(
        &self,
        path: &RelPath,
    ) -> Result<BoxStream<'static, Result<bytes::Bytes, String>>, String>;
    /// For messages.
    fn describe(&self) -> String;
}

/// The last segment of a listed name, which must be one safe path segment.
pub(super) fn child(name: &str) -> Result<String, String> {
    let last = name.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    let rel = safe_path(last).map_err(|_| format!("refusing the artifact name '{name}'"))?;
    match rel.segments() {
        [one] => Ok(one.clone()),
        _ => Err(format!("refusing the artifact name '{name}'")),
    }
}

async fn write_stream(
    path: &Path,
    mut stream: BoxStream<'static, Result<bytes::Bytes, String>>,
) -> Result<(), String> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk?)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Copy every file of `tree` into `dest` (created), keeping the directory structure.
pub async fn copy_tree(tree: &dyn Tree, dest: &Path) -> Result<(), String> {
    let mut count = 0;
    let mut stack = vec![(RelPath::root(), dest.to_path_buf(), 0usize)];
    while let Some((dir, local, depth)) = stack.pop() {
        let entries = tree.list(&dir).await?;
        if depth == 0 && entries.is_empty() {
            return Err(format!("no files in {}", tree.describe()));
        }
        tokio::fs::create_dir_all(&local)
            .await
            .map_err(|e| format!("cannot create {}: {e}", local.display()))?;
        for e in entries {
            let name = child(&e.name)?;
            let rel = dir.join(&safe_path(&name).map_err(|e| e.message)?);
            if e.is_dir {
                if depth + 1 < MAX_DEPTH {
                    stack.push((rel, local.join(&name), depth + 1));
                }
                continue;
            }
            count += 1;
            if count > MAX_FILES {
                return Err(format!(
                    "more than {MAX_FILES} files in the model directory"
                ));
            }
            let stream = tree.read(&rel).await?;
            write_stream(&local.join(&name), stream).await?;
        }
    }
    Ok(())
}

/// A directory of an artifact repository as a [`Tree`].
pub struct RepoTree {
    pub repo: std::sync::Arc<dyn ArtifactRepo>,
    /// The directory's path in the repository.
    pub base: RelPath,
}

#[async_trait]
impl Tree for RepoTree {
    async fn list(&self, dir: &RelPath) -> Result<Vec<Entry>, String> {
        let full = self.base.join(dir);
        let files = self
            .repo
            .list(&full)
            .await
            .map_err(|e| format!("listing {}: {}", full.as_string(), e.message))?;
        Ok(files
            .into_iter()
            .map(|f| Entry {
                name: f.path,
                is_dir: f.is_dir,
            })
            .collect())
    }

    async fn read(
        &self,
        path: &RelPath,
    ) -> Result<BoxStream<'static, Result<bytes::Bytes, String>>, String> {
        let full = self.base.join(path);
        let dl = self
            .repo
            .get(&full)
            .await
            .map_err(|e| format!("downloading {}: {}", full.as_string(), e.message))?;
        Ok(dl.stream.map(|r| r.map_err(|e| e.to_string())).boxed())
    }

    fn describe(&self) -> String {
        format!("'{}' in {}", self.base.as_string(), self.repo.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_names_are_single_safe_segments() {
        assert_eq!(child("MLmodel").unwrap(), "MLmodel");
        assert_eq!(child("a/b/model.onnx").unwrap(), "model.onnx");
        assert!(child("..").is_err());
        assert!(child("").is_err());
        assert!(child("a/..").is_err());
    }
}
