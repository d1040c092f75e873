//! Artifact repositories: streaming put/get/list/delete and multipart uploads, on a local
//! directory or S3.
//!
//! Every path a request names goes through [`safe_path`] first, whatever the backend: one
//! function decides what a path may be, before any I/O.

mod local;
pub mod location;
mod s3;

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub use local::LocalRepo;
pub use s3::{S3Location, S3Repo};

use crate::error::{Error, Result};

/// A stream of body chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Names reserved for Weir's own bookkeeping inside a destination (temporary files, multipart
/// parts); requests can neither see nor touch them.
pub const RESERVED_PREFIX: &str = ".weir-";

/// A validated relative path: non-empty segments, none `.`/`..`, no separators or NUL inside.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelPath(Vec<String>);

impl RelPath {
    pub fn root() -> Self {
        RelPath(Vec::new())
    }
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
    pub fn segments(&self) -> &[String] {
        &self.0
    }
    /// Slash-joined form (empty for the root).
    pub fn as_string(&self) -> String {
        self.0.join("/")
    }
    pub fn file_name(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }
    pub fn parent(&self) -> RelPath {
        let mut v = self.0.clone();
        v.pop();
        RelPath(v)
    }
    /// Join a further validated path.
    pub fn join(&self, other: &RelPath) -> RelPath {
        let mut v = self.0.clone();
        v.extend(other.0.iter().cloned());
        RelPath(v)
    }
}

fn invalid_path() -> Error {
    Error::invalid("Invalid path")
}

/// Validate a request path (already percent-decoded once by the router) into a [`RelPath`].
///
/// Refused: `..` and `.` segments, absolute paths, backslashes, NUL and control characters,
/// anything still percent-encoded that would decode to a separator or a dot (double-encoding),
/// and Weir's reserved names. Empty segments (`a//b`) and a trailing slash are tolerated.
pub fn safe_path(raw: &str) -> Result<RelPath> {
    if raw.starts_with('/')
        || raw.contains('\\')
        || raw.chars().any(|c| c == '\0' || c.is_control())
    {
        return Err(invalid_path());
    }
    let lower = raw.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00", "%25"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return Err(invalid_path());
    }
    if raw.len() > 4096 {
        return Err(Error::invalid("Invalid path: too long"));
    }
    let mut segs = Vec::new();
    for (i, seg) in raw.split('/').enumerate() {
        match seg {
            "" => continue,
            "." | ".." => return Err(invalid_path()),
            s if i == 0 && s.starts_with(RESERVED_PREFIX) => return Err(invalid_path()),
            s if s.len() > 255 => return Err(Error::invalid("Invalid path: a name is too long")),
            s => segs.push(s.to_owned()),
        }
    }
    Ok(RelPath(segs))
}

/// One entry of a directory listing, as MLflow's `FileInfo`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileInfo {
    /// Path relative to the listed directory.
    pub path: String,
    pub is_dir: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// A download: the bytes and, when known, their length.
pub struct Download {
    pub stream: ByteStream,
    pub len: Option<u64>,
}

/// An artifact store.
#[async_trait]
pub trait ArtifactRepo: Send + Sync {
    /// For logs: where this repository keeps bytes.
    fn describe(&self) -> String;
    /// Store a file from a stream. The object appears under its name only when complete.
    async fn put(&self, path: &RelPath, body: ByteStream) -> Result<u64>;
    async fn get(&self, path: &RelPath) -> Result<Download>;
    /// The direct children of a directory; empty when `dir` is a file or does not exist.
    async fn list(&self, dir: &RelPath) -> Result<Vec<FileInfo>>;
    /// Delete a file, or a directory and everything below it. Missing is not an error.
    async fn delete(&self, path: &RelPath) -> Result<()>;
    /// Start a multipart upload of `path`; returns its upload id.
    async fn mpu_create(&self, path: &RelPath) -> Result<String>;
    /// Store one part (1-based); returns its ETag.
    async fn mpu_put_part(
        &self,
        path: &RelPath,
        upload_id: &str,
        part: i32,
        body: ByteStream,
    ) -> Result<String>;
    /// Assemble the parts, in order, into `path`.
    async fn mpu_complete(
        &self,
        path: &RelPath,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<()>;
    async fn mpu_abort(&self, path: &RelPath, upload_id: &str) -> Result<()>;
}

/// Open the repository named by a destination: a local path or `s3://bucket/prefix`.
pub async fn open(destination: &str) -> anyhow::Result<Arc<dyn ArtifactRepo>> {
    if let Some(loc) = S3Location::parse(destination) {
        Ok(Arc::new(S3Repo::open(loc).await?))
    } else {
        let path = destination.strip_prefix("file://").unwrap_or(destination);
        Ok(Arc::new(LocalRepo::open(std::path::Path::new(path))?))
    }
}

/// A new multipart upload id: 32 lowercase hex digits (a v4 UUID without dashes).
pub fn new_upload_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Upload ids are tokens this server handed out ([`new_upload_id`]): exactly that shape, so an
/// id can never name a path (`..`, `/`) inside the destination.
pub fn check_upload_id(id: &str) -> Result<()> {
    let token = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !token {
        return Err(Error::invalid("Invalid upload_id"));
    }
    Ok(())
}

/// Extensions (or whole extension-less names) MLflow serves as `text/plain`, compared as written.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "log",
    "err",
    "cfg",
    "conf",
    "cnf",
    "cf",
    "ini",
    "properties",
    "prop",
    "hocon",
    "toml",
    "yaml",
    "yml",
    "xml",
    "json",
    "js",
    "py",
    "py3",
    "csv",
    "tsv",
    "md",
    "rst",
    "ipynb",
    "MLmodel",
    "mlproject",
];

/// Extensions a browser would run or render as a page: always `text/plain`, so a downloaded
/// artifact never executes on the server's origin (stricter than MLflow, which sends `text/html`).
const ACTIVE_EXTENSIONS: &[&str] = &["html", "htm", "xhtml", "svg", "mjs", "js", "xml"];

/// The content type MLflow's server guesses from a file name: its text list first (the
/// extension, or the whole name when it has none), then the usual table, else
/// `application/octet-stream`.
pub fn guess_content_type(name: &str) -> String {
    let name = name.rsplit('/').next().unwrap_or(name);
    // Like Python's splitext: a leading dot starts a name, not an extension.
    let ext = match name.rfind('.') {
        Some(i) if name[..i].chars().any(|c| c != '.') => &name[i + 1..],
        _ => "",
    };
    let ext = if ext.is_empty() { name } else { ext };
    if TEXT_EXTENSIONS.contains(&ext)
        || ACTIVE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
    {
        return "text/plain".into();
    }
    mime_guess::from_path(name)
        .first_raw()
        .map(str::to_owned)
        .unwrap_or_else(|| "application/octet-stream".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_missing_segments_are_created() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        assert_eq!(creatable(&root.join("a/b")), Some(root.join("a/b")));
        assert_eq!(creatable(&root), Some(root.clone()));
        std::fs::create_dir(root.join("x")).unwrap();
        assert_eq!(creatable(&root.join("x/../y")), Some(root.join("y")));
        assert_eq!(creatable(&root.join("missing/../../etc")), None);
        assert_eq!(creatable(&root.join("a/../../b")), None);
    }

    #[test]
    fn traversal_is_refused() {
        for bad in [
            "../etc/passwd",
            "1/../../etc/passwd",
            "a/./b",
            "/etc/passwd",
            "a\\..\\b",
            "a/%2e%2e/b",
            "a/%2E%2E/b",
            "a%2fb",
            "a/%252e%252e/b",
            "a\0b",
            ".weir-tmp/x",
            "..",
        ] {
            assert!(safe_path(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        assert_eq!(
            safe_path("1/abc/artifacts/a b+c/é.txt")
                .unwrap()
                .as_string(),
            "1/abc/artifacts/a b+c/é.txt"
        );
        assert_eq!(safe_path("a//b/").unwrap().as_string(), "a/b");
        assert!(safe_path("").unwrap().is_root());
        assert!(
            safe_path("x/.weir-tmp").is_ok(),
            "only the top level is reserved"
        );
        assert!(safe_path("..foo/bar..").is_ok());
    }

    #[test]
    fn content_types() {
        assert_eq!(guess_content_type("a.png"), "image/png");
        assert_eq!(guess_content_type("MLmodel"), "text/plain");
        assert_eq!(guess_content_type("x.json"), "text/plain");
        assert_eq!(guess_content_type("page.html"), "text/plain");
        assert_eq!(guess_content_type("model.pkl"), "application/octet-stream");
        assert_eq!(guess_content_type("mlproject"), "text/plain");
        assert_eq!(guess_content_type("dir/settings.hocon"), "text/plain");
        assert_eq!(guess_content_type("notes.rst"), "text/plain");
        assert_eq!(guess_content_type("pic.SVG"), "text/plain");
        assert_eq!(guess_content_type(".bashrc"), "application/octet-stream");
    }
}

/// Resolves artifact URIs (`mlflow-artifacts:/...`, `s3://...`, `file://...`, local paths) to a
/// repository and a path in it. Holds the proxied destination when artifacts are served.
#[derive(Clone)]
pub struct Artifacts {
    /// The `--artifacts-destination` repository, when this server proxies artifacts.
    pub proxied: Option<Arc<dyn ArtifactRepo>>,
    /// S3 repositories opened on demand, one per bucket.
    s3: Arc<tokio::sync::Mutex<std::collections::HashMap<String, Arc<dyn ArtifactRepo>>>>,
    /// Where a server may read directly; `None` for clients (`weir models serve`), which read
    /// what their tracking server points them at.
    roots: Option<Arc<location::Roots>>,
    /// Which hosts stored locations may name (the server's own artifact storage).
    hosts: Arc<location::HostPolicy>,
}

impl Artifacts {
    /// Unconfined: every location may be read (a client of a tracking server).
    pub fn new(proxied: Option<Arc<dyn ArtifactRepo>>) -> Self {
        Artifacts {
            proxied,
            s3: Default::default(),
            roots: None,
            hosts: Arc::new(location::HostPolicy::new(&[])),
        }
    }

    /// A tracking server's: besides the proxied destination, only locations under `storage`
    /// (the default artifact root and the artifacts destination) are read.
    pub fn confined(proxied: Option<Arc<dyn ArtifactRepo>>, storage: &[&str]) -> Self {
        Artifacts {
            proxied,
            s3: Default::default(),
            roots: Some(Arc::new(location::Roots::new(storage))),
            hosts: Arc::new(location::HostPolicy::new(storage)),
        }
    }

    /// The host policy stored locations are checked against.
    pub fn host_policy(&self) -> &location::HostPolicy {
        &self.hosts
    }

    /// Refuse, without opening it, a location this server would not read.
    pub async fn check_readable(&self, uri: &str) -> Result<()> {
        self.resolve(uri).await.map(|_| ())
    }

    pub fn proxied(&self) -> Result<&Arc<dyn ArtifactRepo>> {
        self.proxied.as_ref().ok_or_else(|| {
            Error::invalid(
                "This server does not proxy artifacts (it was started with --no-serve-artifacts)",
            )
        })
    }

    /// The repository holding `uri`, and the path of `uri` in it.
    pub async fn resolve(&self, uri: &str) -> Result<(Arc<dyn ArtifactRepo>, RelPath)> {
        self.resolve_inner(uri, false).await
    }

    /// [`Artifacts::resolve`] for writing: a local location under the server's storage that does
    /// not exist yet (a new run's directory under a `file://` root) is created first.
    pub async fn resolve_for_write(&self, uri: &str) -> Result<(Arc<dyn ArtifactRepo>, RelPath)> {
        self.resolve_inner(uri, true).await
    }

    async fn resolve_inner(
        &self,
        uri: &str,
        create: bool,
    ) -> Result<(Arc<dyn ArtifactRepo>, RelPath)> {
        if let Some((_, path)) = location::proxied_path(uri) {
            return Ok((self.proxied()?.clone(), safe_path(&decode(path)?)?));
        }
        if uri.starts_with("http://") || uri.starts_with("https://") {
            return Err(Error::invalid(format!("Unsupported artifact URI '{uri}'")));
        }
        if let Some(loc) = S3Location::parse(uri) {
            if let Some(roots) = &self.roots {
                if !roots.allows_s3(&loc.bucket, &loc.prefix) {
                    return Err(location::outside_roots(uri));
                }
            }
            let mut cache = self.s3.lock().await;
            let repo = match cache.get(&loc.bucket) {
                Some(r) => r.clone(),
                None => {
                    let r: Arc<dyn ArtifactRepo> = Arc::new(
                        S3Repo::open(S3Location {
                            bucket: loc.bucket.clone(),
                            prefix: String::new(),
                        })
                        .await
                        .map_err(|e| Error::internal("opening S3", e))?,
                    );
                    cache.insert(loc.bucket.clone(), r.clone());
                    r
                }
            };
            return Ok((repo, safe_path(&loc.prefix)?));
        }
        let local = uri.strip_prefix("file://").unwrap_or(uri);
        if local.contains("://") {
            return Err(Error::invalid(format!("Unsupported artifact URI '{uri}'")));
        }
        let dir = std::path::Path::new(local);
        if !dir.is_absolute() {
            return Err(Error::invalid(format!("Unsupported artifact URI '{uri}'")));
        }
        let mut canonical = dir.canonicalize().ok();
        if canonical.is_none() && create {
            // Created only where it provably lands: an existing ancestor, made canonical, plus
            // plain segments (no `..` to climb out of the roots once created).
            let probe = creatable(dir).ok_or_else(|| location::outside_roots(uri))?;
            if let Some(roots) = &self.roots {
                if !roots.allows_local(&probe) {
                    return Err(location::outside_roots(uri));
                }
            }
            tokio::fs::create_dir_all(&probe)
                .await
                .map_err(|e| Error::internal("creating an artifact directory", e))?;
            canonical = Some(probe);
        }
        if let Some(roots) = &self.roots {
            // A location that does not exist yet is checked as written.
            let probe = canonical.clone().unwrap_or_else(|| dir.to_path_buf());
            if !roots.allows_local(&probe) {
                return Err(location::outside_roots(uri));
            }
        }
        let repo = LocalRepo::open_existing(dir)
            .map_err(|_| Error::not_found(format!("No such artifact location: '{uri}'")))?;
        Ok((Arc::new(repo), RelPath::root()))
    }
}

/// `dir` as it would be once created: its nearest existing ancestor made canonical, joined with
/// the missing segments, which must all be plain names. `None` when a missing segment is `..`.
fn creatable(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    use std::path::Component;
    let mut missing = Vec::new();
    let mut at = dir;
    let base = loop {
        if let Ok(c) = at.canonicalize() {
            break c;
        }
        let name = at.file_name()?;
        missing.push(name.to_owned());
        at = at.parent()?;
    };
    // `file_name` skips `.` and stops at `..`: check what was peeled off really is plain.
    let peeled: std::path::PathBuf = missing.iter().rev().collect();
    if !peeled
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        || !dir.ends_with(&peeled)
    {
        return None;
    }
    Some(base.join(peeled))
}

fn decode(s: &str) -> Result<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Error::invalid("Invalid path"))
}
