//! Where models come from: resolving a model URI to a version and an artifact location, and
//! downloading that location's files.
//!
//! - [`InProcess`] (`weir server --serve-model`): the registry and artifact repositories of the
//!   same process.
//! - [`Remote`] (`weir models serve`): a tracking server over HTTP, using MLflow's own REST
//!   endpoints (so it works against MLflow too), or Weir's one-call resolver when present.
//! - A local directory holding an `MLmodel` needs neither.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{json, Value as Json};
use tokio::io::AsyncWriteExt;

use super::model::Origin;
use crate::artifacts::{safe_path, ArtifactRepo, Artifacts, RelPath};
use crate::registry::{ModelUri, Registry};

/// The model a server was asked to serve.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelRef {
    /// A `models:/` or `runs:/` URI.
    Uri { uri: String, parsed: ModelUri },
    /// A local directory holding an `MLmodel` file.
    Dir(PathBuf),
}

impl ModelRef {
    pub fn parse(s: &str) -> Result<ModelRef, String> {
        let s = s.trim();
        if s.starts_with("models:/") || s.starts_with("runs:/") {
            let parsed = ModelUri::parse(s).map_err(|e| e.message)?;
            return Ok(ModelRef::Uri {
                uri: s.to_owned(),
                parsed,
            });
        }
        if s.is_empty() {
            return Err("the model URI is empty".into());
        }
        let path = s.strip_prefix("file://").unwrap_or(s);
        if path.contains("://") {
            return Err(format!(
                "unsupported model URI '{s}': use models:/<name>@<alias>, models:/<name>/<version or stage>, models:/m-<id>, runs:/<run_id>/<path> or a local directory"
            ));
        }
        let p = PathBuf::from(path);
        Ok(ModelRef::Dir(std::path::absolute(&p).unwrap_or(p)))
    }

    /// The name the model is served under (KServe's `<name>`): the registered model's name, else
    /// the logged model id, the run's artifact path, or the directory's name.
    pub fn served_name(&self) -> String {
        match self {
            ModelRef::Uri { parsed, .. } => match parsed {
                ModelUri::Alias { name, .. }
                | ModelUri::Stage { name, .. }
                | ModelUri::Version { name, .. }
                | ModelUri::Latest { name } => name.clone(),
                ModelUri::LoggedModel { model_id } => model_id.clone(),
                ModelUri::Run { run_id, path } => path
                    .rsplit('/')
                    .find(|s| !s.is_empty())
                    .unwrap_or(run_id)
                    .to_owned(),
            },
            ModelRef::Dir(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".to_owned()),
        }
    }

    /// Whether what the URI points at can change (an alias, a stage, `latest`): only those are
    /// watched.
    pub fn is_moving(&self) -> bool {
        matches!(
            self,
            ModelRef::Uri {
                parsed: ModelUri::Alias { .. } | ModelUri::Stage { .. } | ModelUri::Latest { .. },
                ..
            }
        )
    }

    pub fn display(&self) -> String {
        match self {
            ModelRef::Uri { uri, .. } => uri.clone(),
            ModelRef::Dir(p) => p.display().to_string(),
        }
    }
}

/// Resolves model URIs and downloads model directories.
#[async_trait]
pub trait Source: Send + Sync {
    /// Which version the URI names now, and where its files are.
    async fn resolve(&self, uri: &str) -> Result<Origin, String>;
    /// Copy every file under `artifact_uri` into `dest` (an empty directory).
    async fn fetch(&self, artifact_uri: &str, dest: &Path) -> Result<(), String>;
    /// For logs.
    fn describe(&self) -> String;
}

/// An artifact URI that is a directory on this machine, loaded in place (no copy).
pub fn local_dir(artifact_uri: &str) -> Option<PathBuf> {
    let p = artifact_uri.strip_prefix("file://").unwrap_or(artifact_uri);
    let p = Path::new(p);
    (p.is_absolute() && !artifact_uri.contains(":/") || artifact_uri.starts_with("file://"))
        .then(|| p.to_path_buf())
}

/// Most files one model directory may hold (a guard against a runaway listing).
const MAX_FILES: usize = 10_000;
/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 16;

fn child(name: &str) -> Result<String, String> {
    let last = name.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    let rel = safe_path(last).map_err(|_| format!("refusing the artifact name '{name}'"))?;
    match rel.segments() {
        [one] => Ok(one.clone()),
        _ => Err(format!("refusing the artifact name '{name}'")),
    }
}

async fn write_stream(
    path: &Path,
    mut stream: impl futures::Stream<Item = Result<bytes::Bytes, String>> + Unpin,
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

/// Copy a directory of an artifact repository into `dest`.
pub async fn copy_tree(repo: &dyn ArtifactRepo, dir: &RelPath, dest: &Path) -> Result<(), String> {
    let mut count = 0;
    let mut stack = vec![(dir.clone(), dest.to_path_buf(), 0usize)];
    while let Some((dir, local, depth)) = stack.pop() {
        let entries = repo
            .list(&dir)
            .await
            .map_err(|e| format!("listing {}: {}", dir.as_string(), e.message))?;
        if depth == 0 && entries.is_empty() {
            return Err(format!(
                "no files at '{}' in {}",
                dir.as_string(),
                repo.describe()
            ));
        }
        tokio::fs::create_dir_all(&local)
            .await
            .map_err(|e| format!("cannot create {}: {e}", local.display()))?;
        for f in entries {
            let name = child(&f.path)?;
            let rel = dir.join(&safe_path(&name).map_err(|e| e.message)?);
            if f.is_dir {
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
            let dl = repo
                .get(&rel)
                .await
                .map_err(|e| format!("downloading {}: {}", rel.as_string(), e.message))?;
            let stream = dl.stream.map(|r| r.map_err(|e| e.to_string()));
            write_stream(&local.join(&name), stream).await?;
        }
    }
    Ok(())
}

/// The registry and artifacts of this process (`weir server --serve-model`).
pub struct InProcess {
    pub registry: Registry,
    pub artifacts: Artifacts,
}

#[async_trait]
impl Source for InProcess {
    async fn resolve(&self, uri: &str) -> Result<Origin, String> {
        let r = self.registry.resolve(uri).await.map_err(|e| e.message)?;
        Ok(Origin {
            version: r.version,
            run_id: r.run_id,
            model_id: r.model_id,
            artifact_uri: r.artifact_uri,
        })
    }

    async fn fetch(&self, artifact_uri: &str, dest: &Path) -> Result<(), String> {
        let (repo, rel) = self
            .artifacts
            .resolve(artifact_uri)
            .await
            .map_err(|e| e.message)?;
        copy_tree(repo.as_ref(), &rel, dest).await
    }

    fn describe(&self) -> String {
        "the in-process registry".into()
    }
}

/// A tracking server reached over HTTP (`weir models serve`).
pub struct Remote {
    /// The tracking server's URL, without credentials.
    base: String,
    /// Its origin (scheme, host, port): credentials go to this origin and no other.
    origin: url::Origin,
    /// `Authorization` for the tracking server, from MLFLOW_TRACKING_TOKEN,
    /// MLFLOW_TRACKING_USERNAME/PASSWORD or the URI's `user:password@`.
    auth: Option<reqwest::header::HeaderValue>,
    client: reqwest::Client,
    /// Opens `s3://` and `file://` artifact locations directly.
    artifacts: Artifacts,
}

/// Where MLflow's artifact proxy serves files.
const PROXY: &str = "/api/2.0/mlflow-artifacts/artifacts";

impl Remote {
    pub fn new(tracking_uri: &str) -> Result<Remote, String> {
        let shown = crate::secret::redact_uri(tracking_uri);
        let mut url = url::Url::parse(tracking_uri.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                format!(
                    "MLFLOW_TRACKING_URI must be an http(s) URL of a tracking server to resolve models:/ and runs:/ URIs, got '{shown}'"
                )
            })?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let (uri_user, uri_pass) = (decode(url.username()), url.password().map(decode));
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let basic = |user: &str, pass: &str| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            )
        };
        let auth = match (
            env("MLFLOW_TRACKING_TOKEN"),
            env("MLFLOW_TRACKING_USERNAME"),
        ) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (_, Some(user)) => Some(basic(
                &user,
                &env("MLFLOW_TRACKING_PASSWORD").unwrap_or_default(),
            )),
            _ if !uri_user.is_empty() => Some(basic(&uri_user, &uri_pass.unwrap_or_default())),
            _ => None,
        };
        let auth = match auth {
            Some(a) => {
                let mut v = reqwest::header::HeaderValue::from_str(&a)
                    .map_err(|_| "the tracking credentials are not valid header text".to_owned())?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // A redirect could lead elsewhere with the credentials: follow none.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Remote {
            base: url.as_str().trim_end_matches('/').to_owned(),
            origin: url.origin(),
            auth,
            client,
            artifacts: Artifacts::new(None),
        })
    }

    /// A request to `url`, carrying the tracking credentials only when `url` is on the tracking
    /// server's own origin.
    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, url);
        let same_origin = url::Url::parse(url).is_ok_and(|u| u.origin() == self.origin);
        match (&self.auth, same_origin) {
            (Some(a), true) => builder.header(reqwest::header::AUTHORIZATION, a.clone()),
            _ => builder,
        }
    }

    fn error_message(status: reqwest::StatusCode, body: &str) -> String {
        let detail = serde_json::from_str::<Json>(body)
            .ok()
            .and_then(|j| j.get("message").and_then(Json::as_str).map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        format!("{status}: {detail}")
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Json, String> {
        let resp = req
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| format!("{what}: cannot reach {}: {e}", self.base))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| format!("{what}: reading the answer: {e}"))?;
        if !status.is_success() {
            return Err(format!("{what}: {}", Self::error_message(status, &body)));
        }
        serde_json::from_str(&body).map_err(|e| format!("{what}: the answer is not JSON: {e}"))
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Json, String> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        self.send(
            self.request(reqwest::Method::GET, &url).query(query),
            &format!("GET {path}"),
        )
        .await
    }

    async fn post(&self, path: &str, body: Json) -> Result<Json, String> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        self.send(
            self.request(reqwest::Method::POST, &url).json(&body),
            &format!("POST {path}"),
        )
        .await
    }

    /// Weir's one-call resolver; `None` when the server does not have it (MLflow).
    async fn weir_resolve(&self, uri: &str) -> Result<Option<Origin>, String> {
        let url = format!("{}/api/2.0/weir/models/resolve", self.base);
        let resp = self
            .request(reqwest::Method::GET, &url)
            .query(&[("model_uri", uri)])
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| format!("cannot reach the tracking server {}: {e}", self.base))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let weir_error = serde_json::from_str::<Json>(&body)
            .ok()
            .is_some_and(|j| j.get("error_code").is_some());
        if status.is_success() {
            let j: Json = serde_json::from_str(&body)
                .map_err(|e| format!("the resolver's answer is not JSON: {e}"))?;
            let s = |k: &str| j.get(k).and_then(Json::as_str).map(str::to_owned);
            let artifact_uri =
                s("artifact_uri").ok_or("the resolver's answer has no artifact_uri")?;
            return Ok(Some(Origin {
                version: s("version"),
                run_id: s("run_id"),
                model_id: s("model_id"),
                artifact_uri,
            }));
        }
        if weir_error || !matches!(status.as_u16(), 404 | 405 | 501) {
            return Err(Self::error_message(status, &body));
        }
        Ok(None)
    }

    /// Resolve with MLflow's endpoints, as `mlflow models serve` does.
    async fn mlflow_resolve(&self, parsed: &ModelUri) -> Result<Origin, String> {
        let version_of = |j: &Json, key: &str| -> Result<Json, String> {
            j.get(key)
                .cloned()
                .ok_or_else(|| format!("the answer has no {key}"))
        };
        let mv = match parsed {
            ModelUri::Alias { name, alias } => version_of(
                &self
                    .get(
                        "registered-models/alias",
                        &[("name", name), ("alias", alias)],
                    )
                    .await?,
                "model_version",
            )?,
            ModelUri::Version { name, version } => version_of(
                &self
                    .get(
                        "model-versions/get",
                        &[("name", name), ("version", &version.to_string())],
                    )
                    .await?,
                "model_version",
            )?,
            ModelUri::Stage { name, stage } => {
                let j = self
                    .post(
                        "registered-models/get-latest-versions",
                        json!({"name": name, "stages": [stage]}),
                    )
                    .await?;
                j.get("model_versions")
                    .and_then(Json::as_array)
                    .and_then(|v| v.first().cloned())
                    .ok_or_else(|| {
                        format!("No versions of model with name '{name}' and stage '{stage}' found")
                    })?
            }
            ModelUri::Latest { name } => {
                let j = self
                    .post(
                        "registered-models/get-latest-versions",
                        json!({"name": name}),
                    )
                    .await?;
                j.get("model_versions")
                    .and_then(Json::as_array)
                    .and_then(|v| {
                        v.iter()
                            .max_by_key(|mv| {
                                mv.get("version")
                                    .and_then(Json::as_str)
                                    .and_then(|s| s.parse::<i64>().ok())
                                    .unwrap_or(0)
                            })
                            .cloned()
                    })
                    .ok_or_else(|| format!("No versions of model with name '{name}' found"))?
            }
            ModelUri::LoggedModel { model_id } => return self.logged_model(model_id).await,
            ModelUri::Run { run_id, path } => return self.run_model(run_id, path).await,
        };
        let s = |k: &str| mv.get(k).and_then(Json::as_str).map(str::to_owned);
        let name = s("name").ok_or("the model version has no name")?;
        let version = s("version").ok_or("the model version has no version")?;
        let uri = self
            .get(
                "model-versions/get-download-uri",
                &[("name", &name), ("version", &version)],
            )
            .await?
            .get("artifact_uri")
            .and_then(Json::as_str)
            .map(str::to_owned)
            .ok_or("get-download-uri gave no artifact_uri")?;
        let mut origin = match ModelUri::parse(&uri) {
            Ok(ModelUri::Run { run_id, path }) => self.run_model(&run_id, &path).await?,
            Ok(ModelUri::LoggedModel { model_id }) => self.logged_model(&model_id).await?,
            _ => Origin {
                artifact_uri: uri,
                ..Origin::default()
            },
        };
        origin.version = Some(version);
        origin.run_id = origin
            .run_id
            .or_else(|| s("run_id").filter(|r| !r.is_empty()));
        origin.model_id = origin.model_id.or_else(|| s("model_id"));
        if origin.model_id.is_none() {
            if let Some(Ok(ModelUri::LoggedModel { model_id })) =
                s("source").map(|src| ModelUri::parse(&src))
            {
                origin.model_id = Some(model_id);
            }
        }
        Ok(origin)
    }

    async fn logged_model(&self, model_id: &str) -> Result<Origin, String> {
        let j = self.get(&format!("logged-models/{model_id}"), &[]).await?;
        let info = j
            .get("model")
            .and_then(|m| m.get("info"))
            .ok_or("the logged model has no info")?;
        let s = |k: &str| info.get(k).and_then(Json::as_str).map(str::to_owned);
        Ok(Origin {
            version: None,
            run_id: s("source_run_id").filter(|r| !r.is_empty()),
            model_id: Some(model_id.to_owned()),
            artifact_uri: s("artifact_uri").ok_or("the logged model has no artifact_uri")?,
        })
    }

    /// `runs:/<run>/<path>`: the run's artifacts at `path`, else the MLflow 3 logged model of
    /// that name the run produced.
    async fn run_model(&self, run_id: &str, path: &str) -> Result<Origin, String> {
        let run = self
            .get("runs/get", &[("run_id", run_id), ("run_uuid", run_id)])
            .await?;
        let info = run
            .get("run")
            .and_then(|r| r.get("info"))
            .ok_or("the run has no info")?;
        let s = |k: &str| info.get(k).and_then(Json::as_str).map(str::to_owned);
        let base = s("artifact_uri").ok_or("the run has no artifact_uri")?;
        let candidate = if path.is_empty() {
            base.clone()
        } else {
            format!("{}/{path}", base.trim_end_matches('/'))
        };
        let listed = self
            .get("artifacts/list", &[("run_id", run_id), ("path", path)])
            .await
            .ok()
            .and_then(|j| j.get("files").and_then(Json::as_array).map(Vec::len))
            .unwrap_or(0);
        if listed > 0 || path.is_empty() {
            return Ok(Origin {
                run_id: Some(run_id.to_owned()),
                artifact_uri: candidate,
                ..Origin::default()
            });
        }
        let experiment = s("experiment_id").unwrap_or_default();
        let found = self
            .post(
                "logged-models/search",
                json!({
                    "experiment_ids": [experiment],
                    "filter": format!("name = '{}'", path.replace('\'', "''")),
                    "max_results": 100,
                }),
            )
            .await?;
        let hit = found
            .get("models")
            .and_then(Json::as_array)
            .and_then(|models| {
                models.iter().find(|m| {
                    m.pointer("/info/source_run_id").and_then(Json::as_str) == Some(run_id)
                })
            });
        match hit {
            Some(m) => Ok(Origin {
                version: None,
                run_id: Some(run_id.to_owned()),
                model_id: m
                    .pointer("/info/model_id")
                    .and_then(Json::as_str)
                    .map(str::to_owned),
                artifact_uri: m
                    .pointer("/info/artifact_uri")
                    .and_then(Json::as_str)
                    .map(str::to_owned)
                    .ok_or("the logged model has no artifact_uri")?,
            }),
            None => Ok(Origin {
                run_id: Some(run_id.to_owned()),
                artifact_uri: candidate,
                ..Origin::default()
            }),
        }
    }

    /// The HTTP base and proxied path of an `mlflow-artifacts:` or proxy URL.
    fn proxy_location(&self, uri: &str) -> Option<(String, String)> {
        if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
            let path = match rest.strip_prefix("//") {
                Some(authority_and_path) => authority_and_path
                    .split_once('/')
                    .map(|x| x.1)
                    .unwrap_or(""),
                None => rest,
            };
            return Some((self.base.clone(), path.trim_matches('/').to_owned()));
        }
        if uri.starts_with("http://") || uri.starts_with("https://") {
            let (base, path) = uri.split_once(PROXY)?;
            return Some((base.to_owned(), path.trim_matches('/').to_owned()));
        }
        None
    }

    async fn http_copy_tree(&self, base: &str, path: &str, dest: &Path) -> Result<(), String> {
        let enc = |p: &str| -> String {
            p.split('/')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join("/")
        };
        let mut count = 0;
        let mut stack = vec![(path.to_owned(), dest.to_path_buf(), 0usize)];
        while let Some((dir, local, depth)) = stack.pop() {
            let listing = self
                .send(
                    self.request(reqwest::Method::GET, &format!("{base}{PROXY}"))
                        .query(&[("path", dir.as_str())]),
                    "listing the model's artifacts",
                )
                .await?;
            let files = listing
                .get("files")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            if depth == 0 && files.is_empty() {
                return Err(format!("no files at mlflow-artifacts:/{dir} on {base}"));
            }
            tokio::fs::create_dir_all(&local)
                .await
                .map_err(|e| format!("cannot create {}: {e}", local.display()))?;
            for f in files {
                let raw = f.get("path").and_then(Json::as_str).unwrap_or("");
                let name = child(raw)?;
                let sub = if dir.is_empty() {
                    name.clone()
                } else {
                    format!("{dir}/{name}")
                };
                if f.get("is_dir").and_then(Json::as_bool).unwrap_or(false) {
                    if depth + 1 < MAX_DEPTH {
                        stack.push((sub, local.join(&name), depth + 1));
                    }
                    continue;
                }
                count += 1;
                if count > MAX_FILES {
                    return Err(format!(
                        "more than {MAX_FILES} files in the model directory"
                    ));
                }
                let url = format!("{base}{PROXY}/{}", enc(&sub));
                let resp = self
                    .request(reqwest::Method::GET, &url)
                    .timeout(Duration::from_secs(600))
                    .send()
                    .await
                    .map_err(|e| format!("downloading {sub}: {e}"))?;
                if !resp.status().is_success() {
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    return Err(format!(
                        "downloading {sub}: {}",
                        Self::error_message(status, &body)
                    ));
                }
                let stream = resp.bytes_stream().map(|r| r.map_err(|e| e.to_string()));
                write_stream(&local.join(&name), stream).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Source for Remote {
    async fn resolve(&self, uri: &str) -> Result<Origin, String> {
        if let Some(origin) = self.weir_resolve(uri).await? {
            return Ok(origin);
        }
        let parsed = ModelUri::parse(uri).map_err(|e| e.message)?;
        self.mlflow_resolve(&parsed).await
    }

    async fn fetch(&self, artifact_uri: &str, dest: &Path) -> Result<(), String> {
        if let Some((base, path)) = self.proxy_location(artifact_uri) {
            return self.http_copy_tree(&base, &path, dest).await;
        }
        let (repo, rel) = self
            .artifacts
            .resolve(artifact_uri)
            .await
            .map_err(|e| e.message)?;
        copy_tree(repo.as_ref(), &rel, dest).await
    }

    fn describe(&self) -> String {
        format!("the tracking server {}", self.base)
    }
}

/// A source for `weir models serve -m <directory>`: nothing to resolve or download.
pub struct NoSource;

#[async_trait]
impl Source for NoSource {
    async fn resolve(&self, uri: &str) -> Result<Origin, String> {
        Err(format!("cannot resolve '{uri}' without a tracking server"))
    }
    async fn fetch(&self, artifact_uri: &str, _dest: &Path) -> Result<(), String> {
        Err(format!(
            "cannot download '{artifact_uri}' without a tracking server"
        ))
    }
    fn describe(&self) -> String {
        "the local file system".into()
    }
}

pub type SharedSource = Arc<dyn Source>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs() {
        let r = ModelRef::parse("models:/iris-onnx@champion").unwrap();
        assert_eq!(r.served_name(), "iris-onnx");
        assert!(r.is_moving());
        let r = ModelRef::parse("models:/iris/3").unwrap();
        assert!(!r.is_moving());
        assert!(ModelRef::parse("models:/iris/Production")
            .unwrap()
            .is_moving());
        assert!(ModelRef::parse("models:/iris/latest").unwrap().is_moving());
        assert_eq!(
            ModelRef::parse("models:/m-abc").unwrap().served_name(),
            "m-abc"
        );
        assert_eq!(
            ModelRef::parse("runs:/abc/sub/model")
                .unwrap()
                .served_name(),
            "model"
        );
        let d = ModelRef::parse("models/iris-rf").unwrap();
        assert_eq!(d.served_name(), "iris-rf");
        let ModelRef::Dir(p) = &d else { panic!() };
        assert!(p.is_absolute());
        assert!(matches!(
            ModelRef::parse("file:///tmp/x").unwrap(),
            ModelRef::Dir(_)
        ));
        assert!(ModelRef::parse("s3://bucket/model").is_err());
        assert!(ModelRef::parse("models:/").is_err());
        assert!(ModelRef::parse("  ").is_err());
    }

    #[test]
    fn local_artifact_uris_load_in_place() {
        assert_eq!(local_dir("/srv/a"), Some(PathBuf::from("/srv/a")));
        assert_eq!(local_dir("file:///srv/a"), Some(PathBuf::from("/srv/a")));
        assert_eq!(local_dir("mlflow-artifacts:/1/x"), None);
        assert_eq!(local_dir("s3://b/x"), None);
        assert_eq!(local_dir("relative/x"), None);
    }

    #[test]
    fn artifact_names_are_single_safe_segments() {
        assert_eq!(child("MLmodel").unwrap(), "MLmodel");
        assert_eq!(child("a/b/model.onnx").unwrap(), "model.onnx");
        assert!(child("..").is_err());
        assert!(child("").is_err());
        assert!(child("a/..").is_err());
    }

    #[test]
    fn proxy_locations() {
        let r = Remote::new("http://tracking:5000/").unwrap();
        assert_eq!(
            r.proxy_location("mlflow-artifacts:/3/models/m-1/artifacts"),
            Some((
                "http://tracking:5000".into(),
                "3/models/m-1/artifacts".into()
            ))
        );
        assert_eq!(
            r.proxy_location("mlflow-artifacts://other:80/3/x"),
            Some(("http://tracking:5000".into(), "3/x".into()))
        );
        assert_eq!(
            r.proxy_location("https://h/p/api/2.0/mlflow-artifacts/artifacts/1/x/"),
            Some(("https://h/p".into(), "1/x".into()))
        );
        assert_eq!(r.proxy_location("s3://b/k"), None);
        assert!(Remote::new("sqlite:///mlflow.db").is_err());
    }
}
