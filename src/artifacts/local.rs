//! A local directory as an artifact repository.
//!
//! Writes go to `<root>/.weir-tmp/<uuid>` and are renamed into place when complete, so an
//! upload cut off mid-body never leaves a partial file under its final name. Multipart parts
//! live in `<root>/.weir-mpu/<upload_id>/`. Every resolved path is checked to stay inside the
//! root after following symlinks.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

use super::*;

pub struct LocalRepo {
    /// Canonical root directory.
    root: PathBuf,
}

impl LocalRepo {
    pub fn open(root: &Path) -> anyhow::Result<LocalRepo> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        Ok(LocalRepo { root })
    }

    /// A repository over an existing directory (reading a run's `file://` artifacts).
    pub fn open_existing(root: &Path) -> anyhow::Result<LocalRepo> {
        Ok(LocalRepo {
            root: root.canonicalize()?,
        })
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join(".weir-tmp")
    }

    fn mpu_dir(&self, upload_id: &str) -> PathBuf {
        self.root.join(".weir-mpu").join(upload_id)
    }

    /// The on-disk path for `p`, refusing anything that resolves outside the root through a
    /// symlink (the deepest existing ancestor is canonicalised and must stay inside).
    fn resolve(&self, p: &RelPath) -> Result<PathBuf> {
        let mut full = self.root.clone();
        for s in p.segments() {
            full.push(s);
        }
        let mut probe = full.clone();
        loop {
            match probe.canonicalize() {
                Ok(c) => {
                    if !c.starts_with(&self.root) {
                        return Err(Error::invalid("Invalid path"));
                    }
                    break;
                }
                Err(_) => {
                    if !probe.pop() {
                        break;
                    }
                }
            }
        }
        Ok(full)
    }

    /// Write a stream to a fresh temporary file; on any error the file is removed.
    async fn write_temp(&self, mut body: ByteStream) -> Result<(PathBuf, u64)> {
        let dir = self.tmp_dir();
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join(uuid::Uuid::new_v4().simple().to_string());
        let result: std::io::Result<u64> = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                n += chunk.len() as u64;
                f.write_all(&chunk).await?;
            }
            f.flush().await?;
            f.sync_data().await?;
            Ok(n)
        }
        .await;
        match result {
            Ok(n) => Ok((tmp, n)),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(Error::bad_request(format!("Upload failed: {e}")))
            }
        }
    }

    async fn place(&self, tmp: &Path, dest: &Path) -> Result<()> {
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        if tokio::fs::metadata(dest)
            .await
            .map(|m| m.is_dir())
            .unwrap_or(false)
        {
            let _ = tokio::fs::remove_file(tmp).await;
            return Err(Error::invalid(
                "Invalid path: a directory exists with that name",
            ));
        }
        if let Err(e) = tokio::fs::rename(tmp, dest).await {
            let _ = tokio::fs::remove_file(tmp).await;
            return Err(e.into());
        }
        Ok(())
    }
}

#[async_trait]
impl ArtifactRepo for LocalRepo {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    async fn put(&self, path: &RelPath, body: ByteStream) -> Result<u64> {
        if path.is_root() {
            return Err(Error::invalid("Invalid path"));
        }
        let dest = self.resolve(path)?;
        let (tmp, n) = self.write_temp(body).await?;
        // Re-check after the (possibly long) upload: the tree may have changed meanwhile.
        self.resolve(path)?;
        self.place(&tmp, &dest).await?;
        Ok(n)
    }

    async fn get(&self, path: &RelPath) -> Result<Download> {
        let full = self.resolve(path)?;
        let not_found = || Error::not_found(format!("No such artifact: '{}'", path.as_string()));
        let meta = tokio::fs::metadata(&full).await.map_err(|_| not_found())?;
        if !meta.is_file() {
            return Err(not_found());
        }
        let file = tokio::fs::File::open(&full)
            .await
            .map_err(|_| not_found())?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        Ok(Download {
            stream: Box::pin(stream),
            len: Some(meta.len()),
        })
    }

    async fn list(&self, dir: &RelPath) -> Result<Vec<FileInfo>> {
        let full = self.resolve(dir)?;
        let Ok(mut rd) = tokio::fs::read_dir(&full).await else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        while let Some(entry) = rd.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if dir.is_root() && name.starts_with(RESERVED_PREFIX) {
                continue;
            }
            // Follow symlinks only when they stay inside the root.
            let Ok(canonical) = entry.path().canonicalize() else {
                continue;
            };
            if !canonical.starts_with(&self.root) {
                continue;
            }
            let Ok(meta) = tokio::fs::metadata(&canonical).await else {
                continue;
            };
            out.push(FileInfo {
                path: name,
                is_dir: meta.is_dir(),
                file_size: if meta.is_dir() {
                    None
                } else {
                    Some(meta.len())
                },
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    async fn delete(&self, path: &RelPath) -> Result<()> {
        if path.is_root() {
            return Err(Error::invalid("Refusing to delete the artifact root"));
        }
        let full = self.resolve(path)?;
        match tokio::fs::symlink_metadata(&full).await {
            Err(_) => Ok(()),
            Ok(m) if m.is_dir() => Ok(tokio::fs::remove_dir_all(&full).await?),
            Ok(_) => Ok(tokio::fs::remove_file(&full).await?),
        }
    }

    async fn mpu_create(&self, path: &RelPath) -> Result<String> {
        self.resolve(path)?;
        let id = new_upload_id();
        let dir = self.mpu_dir(&id);
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(dir.join("target"), path.as_string()).await?;
        Ok(id)
    }

    async fn mpu_put_part(
        &self,
        path: &RelPath,
        upload_id: &str,
        part: i32,
        body: ByteStream,
    ) -> Result<String> {
        check_upload_id(upload_id)?;
        let dir = self.mpu_dir(upload_id);
        let target = tokio::fs::read_to_string(dir.join("target"))
            .await
            .map_err(|_| Error::not_found(format!("No multipart upload with id '{upload_id}'")))?;
        if target != path.as_string() {
            return Err(Error::invalid("The upload id does not belong to this path"));
        }
        let (tmp, n) = self.write_temp(body).await?;
        let dest = dir.join(format!("{part:05}"));
        if let Err(e) = tokio::fs::rename(&tmp, &dest).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        Ok(format!("\"{upload_id}-{part}-{n}\""))
    }

    async fn mpu_complete(
        &self,
        path: &RelPath,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<()> {
        check_upload_id(upload_id)?;
        let dir = self.mpu_dir(upload_id);
        if !tokio::fs::try_exists(dir.join("target"))
            .await
            .unwrap_or(false)
        {
            return Err(Error::not_found(format!(
                "No multipart upload with id '{upload_id}'"
            )));
        }
        let mut sorted: Vec<i32> = parts.iter().map(|p| p.0).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let files: Vec<PathBuf> = sorted.iter().map(|n| dir.join(format!("{n:05}"))).collect();
        let stream = futures::stream::iter(files)
            .then(|f| async move { tokio::fs::File::open(f).await })
            .map(|r| r.map(|file| tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)))
            .try_flatten();
        let dest = self.resolve(path)?;
        let (tmp, _) = self.write_temp(Box::pin(stream)).await?;
        self.place(&tmp, &dest).await?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(())
    }

    async fn mpu_abort(&self, _path: &RelPath, upload_id: &str) -> Result<()> {
        check_upload_id(upload_id)?;
        let _ = tokio::fs::remove_dir_all(self.mpu_dir(upload_id)).await;
        Ok(())
    }
}
