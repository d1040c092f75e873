//! A tracking server reached over HTTP (`weir models serve`): Weir's one-call resolver when the
//! server has it, else MLflow's own REST endpoints through the registry's resolution rules (so
//! it works against MLflow too), and the artifact proxy for downloads. Credentials go to the
//! tracking server's origin only.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::{json, Value as Json};

use super::tree::{copy_tree, Entry, RepoTree, Tree};
use super::Source;
use crate::artifacts::{Artifacts, RelPath};
use crate::error::{Error, ErrorCode, Result};
use crate::registry::resolve::resolve;
use crate::registry::{LoggedRef, Lookup, ModelUri, VersionRef};
use crate::serving::model::Origin;

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
const PROXY: &str = crate::artifacts::location::PROXY_ROUTE;

impl Remote {
    pub fn new(tracking_uri: &str) -> std::result::Result<Remote, String> {
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

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> std::result::Result<Json, String> {
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

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> std::result::Result<Json, String> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        self.send(
            self.request(reqwest::Method::GET, &url).query(query),
            &format!("GET {path}"),
        )
        .await
    }

    async fn post(&self, path: &str, body: Json) -> std::result::Result<Json, String> {
        let url = format!("{}/api/2.0/mlflow/{path}", self.base);
        self.send(
            self.request(reqwest::Method::POST, &url).json(&body),
            &format!("POST {path}"),
        )
        .await
    }

    /// Weir's one-call resolver; `None` when the server does not have it (MLflow).
    async fn weir_resolve(&self, uri: &str) -> std::result::Result<Option<Origin>, String> {
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

    /// The HTTP base and proxied path of an `mlflow-artifacts:` or proxy URL.
    /// (`mlflow-artifacts:` paths are served by this tracking server, whatever host they name.)
    fn proxy_location(&self, uri: &str) -> Option<(String, String)> {
        let (base, path) = crate::artifacts::location::proxied_path(uri)?;
        Some((base.unwrap_or(&self.base).to_owned(), path.to_owned()))
    }
}

/// A Remote failure as a registry error (only its message travels on).
fn failed(message: String) -> Error {
    Error::new(ErrorCode::BadRequest, message)
}

fn version_ref(mv: &Json) -> Result<VersionRef> {
    let s = |k: &str| mv.get(k).and_then(Json::as_str).map(str::to_owned);
    let model_id = s("model_id").filter(|m| !m.is_empty()).or_else(|| {
        // MLflow 3 sends `model_id`; a logged model registered by its URI also says so in source.
        match s("source").map(|src| ModelUri::parse(&src)) {
            Some(Ok(ModelUri::LoggedModel { model_id })) => Some(model_id),
            _ => None,
        }
    });
    Ok(VersionRef {
        name: s("name").ok_or_else(|| failed("the model version has no name".into()))?,
        version: s("version").ok_or_else(|| failed("the model version has no version".into()))?,
        run_id: s("run_id").filter(|r| !r.is_empty()),
        model_id,
    })
}

fn logged_ref(model_id: &str, info: &Json) -> Result<LoggedRef> {
    let s = |k: &str| info.get(k).and_then(Json::as_str).map(str::to_owned);
    Ok(LoggedRef {
        model_id: model_id.to_owned(),
        artifact_uri: s("artifact_uri")
            .ok_or_else(|| failed("the logged model has no artifact_uri".into()))?,
        source_run_id: s("source_run_id").filter(|r| !r.is_empty()),
    })
}

/// MLflow's REST endpoints as the registry's facts (as `mlflow models serve` reads them).
#[async_trait]
impl Lookup for Remote {
    async fn version_by_alias(&self, name: &str, alias: &str) -> Result<VersionRef> {
        let j = self
            .get(
                "registered-models/alias",
                &[("name", name), ("alias", alias)],
            )
            .await
            .map_err(failed)?;
        version_ref(j.get("model_version").unwrap_or(&Json::Null))
    }

    async fn version(&self, name: &str, version: i64) -> Result<VersionRef> {
        let j = self
            .get(
                "model-versions/get",
                &[("name", name), ("version", &version.to_string())],
            )
            .await
            .map_err(failed)?;
        version_ref(j.get("model_version").unwrap_or(&Json::Null))
    }

    async fn latest_in_stage(&self, name: &str, stage: &str) -> Result<Option<VersionRef>> {
        let j = self
            .post(
                "registered-models/get-latest-versions",
                json!({"name": name, "stages": [stage]}),
            )
            .await
            .map_err(failed)?;
        match j
            .get("model_versions")
            .and_then(Json::as_array)
            .and_then(|v| v.first())
        {
            Some(mv) => version_ref(mv).map(Some),
            None => Ok(None),
        }
    }

    async fn latest(&self, name: &str) -> Result<Option<VersionRef>> {
        let j = self
            .post(
                "registered-models/get-latest-versions",
                json!({"name": name}),
            )
            .await
            .map_err(failed)?;
        let newest = j
            .get("model_versions")
            .and_then(Json::as_array)
            .and_then(|v| {
                v.iter().max_by_key(|mv| {
                    mv.get("version")
                        .and_then(Json::as_str)
                        .and_then(|s| s.parse::<i64>().ok())
                        .unwrap_or(0)
                })
            });
        match newest {
            Some(mv) => version_ref(mv).map(Some),
            None => Ok(None),
        }
    }

    async fn download_uri(&self, v: &VersionRef) -> Result<String> {
        self.get(
            "model-versions/get-download-uri",
            &[("name", &v.name), ("version", &v.version)],
        )
        .await
        .map_err(failed)?
        .get("artifact_uri")
        .and_then(Json::as_str)
        .map(str::to_owned)
        .ok_or_else(|| failed("get-download-uri gave no artifact_uri".into()))
    }

    async fn logged_model(&self, model_id: &str) -> Result<LoggedRef> {
        let j = self
            .get(&format!("logged-models/{model_id}"), &[])
            .await
            .map_err(failed)?;
        let info = j
            .get("model")
            .and_then(|m| m.get("info"))
            .ok_or_else(|| failed("the logged model has no info".into()))?;
        logged_ref(model_id, info)
    }

    async fn run(&self, run_id: &str) -> Result<(String, String)> {
        let j = self
            .get("runs/get", &[("run_id", run_id), ("run_uuid", run_id)])
            .await
            .map_err(failed)?;
        let info = j
            .get("run")
            .and_then(|r| r.get("info"))
            .ok_or_else(|| failed("the run has no info".into()))?;
        let s = |k: &str| info.get(k).and_then(Json::as_str).map(str::to_owned);
        Ok((
            s("artifact_uri").ok_or_else(|| failed("the run has no artifact_uri".into()))?,
            s("experiment_id").unwrap_or_default(),
        ))
    }

    async fn has_files(&self, run_id: &str, _location: &str, path: &str) -> bool {
        self.get("artifacts/list", &[("run_id", run_id), ("path", path)])
            .await
            .ok()
            .and_then(|j| {
                j.get("files")
                    .and_then(Json::as_array)
                    .map(|f| !f.is_empty())
            })
            .unwrap_or(false)
    }

    async fn logged_model_named(
        &self,
        experiment_id: &str,
        name: &str,
        run_id: &str,
    ) -> Result<Option<LoggedRef>> {
        let found = self
            .post(
                "logged-models/search",
                json!({
                    "experiment_ids": [experiment_id],
                    "filter": format!("name = '{}'", name.replace('\'', "''")),
                    "max_results": 100,
                }),
            )
            .await
            .map_err(failed)?;
        let hit = found
            .get("models")
            .and_then(Json::as_array)
            .and_then(|models| {
                models.iter().find(|m| {
                    m.pointer("/info/source_run_id").and_then(Json::as_str) == Some(run_id)
                })
            });
        match hit {
            Some(m) => {
                let id = m
                    .pointer("/info/model_id")
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                let info = m.get("info").unwrap_or(&Json::Null);
                logged_ref(id, info).map(Some)
            }
            None => Ok(None),
        }
    }
}

/// A directory under a tracking server's artifact proxy, as a [`Tree`].
struct ProxyTree<'a> {
    remote: &'a Remote,
    /// The server's URL (the proxy's host).
    base: String,
    /// The directory's path under the proxy.
    path: String,
}

impl ProxyTree<'_> {
    fn full(&self, rel: &RelPath) -> String {
        let sub = rel.as_string();
        match (self.path.is_empty(), sub.is_empty()) {
            (true, _) => sub,
            (false, true) => self.path.clone(),
            (false, false) => format!("{}/{sub}", self.path),
        }
    }
}

#[async_trait]
impl Tree for ProxyTree<'_> {
    async fn list(&self, dir: &RelPath) -> std::result::Result<Vec<Entry>, String> {
        let full = self.full(dir);
        let listing = self
            .remote
            .send(
                self.remote
                    .request(reqwest::Method::GET, &format!("{}{PROXY}", self.base))
                    .query(&[("path", full.as_str())]),
                "listing the model's artifacts",
            )
            .await?;
        Ok(listing
            .get("files")
            .and_then(Json::as_array)
            .map(|files| {
                files
                    .iter()
                    .map(|f| Entry {
                        name: f
                            .get("path")
                            .and_then(Json::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        is_dir: f.get("is_dir").and_then(Json::as_bool).unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn read(
        &self,
        path: &RelPath,
    ) -> std::result::Result<BoxStream<'static, std::result::Result<bytes::Bytes, String>>, String>
    {
        let full = self.full(path);
        let enc: Vec<String> = full
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect();
        let url = format!("{}{PROXY}/{}", self.base, enc.join("/"));
        let resp = self
            .remote
            .request(reqwest::Method::GET, &url)
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .map_err(|e| format!("downloading {full}: {e}"))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Err(format!(
                "downloading {full}: {}",
                Remote::error_message(status, &body)
            ));
        }
        Ok(resp
            .bytes_stream()
            .map(|r| r.map_err(|e| e.to_string()))
            .boxed())
    }

    fn describe(&self) -> String {
        format!("mlflow-artifacts:/{} on {}", self.path, self.base)
    }
}

#[async_trait]
impl Source for Remote {
    async fn resolve(&self, uri: &str) -> std::result::Result<Origin, String> {
        if let Some(origin) = self.weir_resolve(uri).await? {
            return Ok(origin);
        }
        let r = resolve(self, uri).await.map_err(|e| e.message)?;
        Ok(Origin::from(r))
    }

    async fn fetch(&self, artifact_uri: &str, dest: &Path) -> std::result::Result<(), String> {
        if let Some((base, path)) = self.proxy_location(artifact_uri) {
            return copy_tree(
                &ProxyTree {
                    remote: self,
                    base,
                    path,
                },
                dest,
            )
            .await;
        }
        let (repo, base) = self
            .artifacts
            .resolve(artifact_uri)
            .await
            .map_err(|e| e.message)?;
        copy_tree(&RepoTree { repo, base }, dest).await
    }

    fn describe(&self) -> String {
        format!("the tracking server {}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
