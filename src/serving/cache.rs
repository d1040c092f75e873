//! The on-disk model cache: one directory per (model, version, artifact location), downloaded
//! once and published atomically (download into a temporary directory, then rename), so a crash
//! mid-download never leaves a half model that a restart would trust.

use std::path::{Path, PathBuf};

use super::model::Origin;
use super::source::{local_dir, Source};

/// Marker written last inside a complete cache entry.
const COMPLETE: &str = ".weir-complete";

/// A path segment made of safe characters only (model names may hold anything).
fn segment(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    match cleaned.trim_start_matches('.') {
        "" => "_".to_owned(),
        s => s.to_owned(),
    }
}

/// FNV-1a, stable across Rust versions (the key must survive upgrades).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where a version lives in the cache. The artifact location is part of the key: a registered
/// model deleted and re-created reuses version numbers.
pub fn entry_dir(root: &Path, name: &str, origin: &Origin) -> PathBuf {
    root.join(segment(name)).join(format!(
        "{}-{:016x}",
        segment(&origin.label()),
        fnv1a(&origin.artifact_uri)
    ))
}

/// The local directory holding `origin`'s files: in place for a local artifact location, else
/// the cache entry, downloaded first if needed.
pub async fn materialize(
    source: &dyn Source,
    root: &Path,
    name: &str,
    origin: &Origin,
) -> Result<PathBuf, String> {
    if let Some(dir) = local_dir(&origin.artifact_uri) {
        return Ok(dir);
    }
    let dir = entry_dir(root, name, origin);
    if dir.join(COMPLETE).is_file() {
        tracing::debug!(dir = %dir.display(), "model found in the cache");
        return Ok(dir);
    }
    tokio::fs::create_dir_all(root)
        .await
        .map_err(|e| format!("cannot create the model cache {}: {e}", root.display()))?;
    let tmp = root.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = async {
        source.fetch(&origin.artifact_uri, &tmp).await?;
        tokio::fs::write(tmp.join(COMPLETE), origin.artifact_uri.as_bytes())
            .await
            .map_err(|e| format!("cannot write to the model cache: {e}"))?;
        if let Some(parent) = dir.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        if let Err(e) = tokio::fs::rename(&tmp, &dir).await {
            // Another process published the same entry first: use theirs.
            if !dir.join(COMPLETE).is_file() {
                return Err(format!("cannot publish {}: {e}", dir.display()));
            }
        }
        Ok(())
    }
    .await;
    if tmp.exists() {
        let _ = tokio::fs::remove_dir_all(&tmp).await;
    }
    result.map(|()| dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    struct Fake {
        calls: std::sync::atomic::AtomicUsize,
        fail: bool,
    }

    #[async_trait]
    impl Source for Fake {
        async fn resolve(&self, _uri: &str) -> Result<Origin, String> {
            unreachable!()
        }
        async fn fetch(&self, _uri: &str, dest: &Path) -> Result<(), String> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::fs::create_dir_all(dest).await.unwrap();
            tokio::fs::write(dest.join("MLmodel"), b"flavors: {}")
                .await
                .unwrap();
            if self.fail {
                return Err("network down".into());
            }
            Ok(())
        }
        fn describe(&self) -> String {
            "fake".into()
        }
    }

    #[tokio::test]
    async fn downloads_once_and_atomically() {
        let root = tempfile::tempdir().unwrap();
        let origin = Origin {
            version: Some("3".into()),
            artifact_uri: "mlflow-artifacts:/1/models/m-x/artifacts".into(),
            ..Origin::default()
        };
        let failing = Fake {
            calls: Default::default(),
            fail: true,
        };
        assert!(materialize(&failing, root.path(), "a/b", &origin)
            .await
            .is_err());
        // Nothing half-written is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        let ok = Fake {
            calls: Default::default(),
            fail: false,
        };
        let d1 = materialize(&ok, root.path(), "a/b", &origin).await.unwrap();
        let d2 = materialize(&ok, root.path(), "a/b", &origin).await.unwrap();
        assert_eq!(d1, d2);
        assert_eq!(ok.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(d1.join("MLmodel").is_file());
        assert!(d1.starts_with(root.path().join("a_b")));
        assert!(d1.file_name().unwrap().to_str().unwrap().starts_with("3-"));

        let local = Origin {
            artifact_uri: "file:///srv/models/x".into(),
            ..Origin::default()
        };
        assert_eq!(
            materialize(&ok, root.path(), "x", &local).await.unwrap(),
            PathBuf::from("/srv/models/x")
        );
        assert_eq!(segment(".."), "_");
        assert_eq!(segment("iris classifier/1"), "iris_classifier_1");
    }
}
