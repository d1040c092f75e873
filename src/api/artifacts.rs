//! The artifact proxy (`/api/2.0/mlflow-artifacts/...`), MLflow's artifact listing for runs, and
//! the UI download helpers (`/get-artifact`, `/model-versions/get-artifact`).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use serde_json::json;

use super::guard::Forwarded;
use super::{empty, ok, Fields};
use crate::artifacts::{
    check_upload_id, guess_content_type, safe_path, ArtifactRepo, ByteStream, RelPath,
};
use crate::error::{Error, Result};
use crate::state::AppState;

/// A request body as a byte stream (never buffered whole).
fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

/// `attachment; filename=...`, RFC 5987-encoded when the name is not plain ASCII.
fn content_disposition(name: &str) -> HeaderValue {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | ';' | '\\' | ','));
    let v = if plain {
        format!("attachment; filename={name}")
    } else {
        let enc = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        format!("attachment; filename*=UTF-8''{enc}")
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Stream a file out of a repository with MLflow's download headers.
pub(crate) async fn download(repo: &dyn ArtifactRepo, path: &RelPath) -> Result<Response> {
    let d = repo.get(path).await?;
    let name = path.file_name().unwrap_or("artifact");
    let mut resp = Body::from_stream(d.stream).into_response();
    let h = resp.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&guess_content_type(name)) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    h.insert(header::CONTENT_DISPOSITION, content_disposition(name));
    if let Some(len) = d.len {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

pub async fn put(
    State(s): State<AppState>,
    Path(path): Path<String>,
    req: Request,
) -> Result<Response> {
    let path = safe_path(&path)?;
    let repo = s.artifacts.proxied()?;
    repo.put(&path, body_stream(req.into_body())).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn get(State(s): State<AppState>, Path(path): Path<String>) -> Result<Response> {
    let path = safe_path(&path)?;
    download(s.artifacts.proxied()?.as_ref(), &path).await
}

pub async fn delete(State(s): State<AppState>, Path(path): Path<String>) -> Result<Response> {
    let path = safe_path(&path)?;
    s.artifacts.proxied()?.delete(&path).await?;
    Ok(empty())
}

/// `GET .../artifacts?path=<dir>`: `{files}` for a directory, `{}` for a file or nothing.
pub async fn list(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let path = safe_path(&f.str("path")?.unwrap_or_default())?;
    let files = s.artifacts.proxied()?.list(&path).await?;
    if files.is_empty() {
        return Ok(empty());
    }
    ok(json!({ "files": files }))
}

/// The file a multipart request names: `<dir from the URL>/<basename of the body's path>`.
fn mpu_target(dir: &str, f: &Fields) -> Result<RelPath> {
    let dir = safe_path(dir)?;
    let local = f.req_str("path")?;
    let name = local.rsplit(['/', '\\']).next().unwrap_or("");
    let name = safe_path(name)?;
    if name.is_root() {
        return Err(Error::invalid("Invalid path"));
    }
    Ok(dir.join(&name))
}

/// Where clients should PUT parts: back to this server, as seen by the client. The Host header
/// has passed `--allowed-hosts`; forwarding headers count only from a trusted proxy.
fn external_base(headers: &HeaderMap, fwd: &Forwarded) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let proto = fwd.proto.clone().unwrap_or_else(|| "http".into());
    let host = fwd
        .host
        .clone()
        .or(host)
        .unwrap_or_else(|| "localhost".into());
    format!("{proto}://{host}")
}

/// Most parts one multipart upload may have (S3's limit).
const MAX_PARTS: i64 = 10_000;

pub async fn mpu_create(
    State(s): State<AppState>,
    Path(dir): Path<String>,
    headers: HeaderMap,
    fwd: Forwarded,
    f: Fields,
) -> Result<Response> {
    let target = mpu_target(&dir, &f)?;
    let num_parts = f.i64("num_parts")?.unwrap_or(1);
    if !(1..=MAX_PARTS).contains(&num_parts) {
        return Err(Error::invalid(format!(
            "num_parts must be between 1 and {MAX_PARTS}"
        )));
    }
    let upload_id = s.artifacts.proxied()?.mpu_create(&target).await?;
    let base = external_base(&headers, &fwd);
    let enc = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let credentials: Vec<_> = (1..=num_parts)
        .map(|n| {
            json!({
                "url": format!(
                    "{base}/api/2.0/mlflow-artifacts/mpu/part?path={}&upload_id={}&part_number={n}",
                    enc(&target.as_string()),
                    enc(&upload_id)
                ),
                "part_number": n,
                "headers": {},
            })
        })
        .collect();
    ok(json!({ "upload_id": upload_id, "credentials": credentials }))
}

/// `PUT .../mpu/part?path&upload_id&part_number`: one part's bytes (Weir's part endpoint).
pub async fn mpu_part(State(s): State<AppState>, req: Request) -> Result<Response> {
    let f = Fields::from_query(req.uri().query().unwrap_or(""));
    let path = safe_path(&f.req_str("path")?)?;
    let upload_id = f.req_str("upload_id")?;
    check_upload_id(&upload_id)?;
    let part = f.req_i64("part_number")?;
    if !(1..=MAX_PARTS).contains(&part) {
        return Err(Error::invalid("part_number out of range"));
    }
    let etag = s
        .artifacts
        .proxied()?
        .mpu_put_part(&path, &upload_id, part as i32, body_stream(req.into_body()))
        .await?;
    let mut resp = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

pub async fn mpu_complete(
    State(s): State<AppState>,
    Path(dir): Path<String>,
    f: Fields,
) -> Result<Response> {
    let target = mpu_target(&dir, &f)?;
    let upload_id = f.req_str("upload_id")?;
    check_upload_id(&upload_id)?;
    let parts = f
        .obj_list("parts")?
        .iter()
        .map(|p| {
            Ok((
                p.req_i64("part_number")? as i32,
                p.str("etag")?.unwrap_or_default(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    if parts.is_empty() {
        return Err(Error::missing("parts"));
    }
    let repo = s.artifacts.proxied()?;
    if let Err(e) = repo.mpu_complete(&target, &upload_id, &parts).await {
        // A failed completion is aborted so no half-assembled upload lingers.
        let _ = repo.mpu_abort(&target, &upload_id).await;
        return Err(e);
    }
    Ok(empty())
}

pub async fn mpu_abort(
    State(s): State<AppState>,
    Path(dir): Path<String>,
    f: Fields,
) -> Result<Response> {
    let target = mpu_target(&dir, &f)?;
    let upload_id = f.req_str("upload_id")?;
    check_upload_id(&upload_id)?;
    s.artifacts
        .proxied()?
        .mpu_abort(&target, &upload_id)
        .await?;
    Ok(empty())
}

/// Presigned downloads are not offered; this exact message makes the client stream instead.
pub async fn presigned(Path(path): Path<String>) -> Result<Response> {
    safe_path(&path)?;
    Err(Error::not_implemented(
        "Multipart download is not supported for the current artifact repository",
    ))
}

/// Listing entries named relative to the artifact root rather than the listed directory.
pub(crate) fn relative_to(
    files: Vec<crate::artifacts::FileInfo>,
    dir: &RelPath,
) -> Vec<crate::artifacts::FileInfo> {
    let prefix = dir.as_string();
    files
        .into_iter()
        .map(|mut fi| {
            if !prefix.is_empty() {
                fi.path = format!("{prefix}/{}", fi.path);
            }
            fi
        })
        .collect()
}

/// `GET /api/2.0/mlflow/artifacts/list?run_id&path`: a run's artifacts, wherever they live.
pub async fn list_run_artifacts(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let run = s
        .tracking
        .get_run(&f.req_str_any(&["run_id", "run_uuid"])?)
        .await?;
    let sub = safe_path(&f.str("path")?.unwrap_or_default())?;
    let root_uri = run.info.artifact_uri.clone();
    let (repo, base) = s.artifacts.resolve(&root_uri).await?;
    let files = relative_to(repo.list(&base.join(&sub)).await?, &sub);
    if files.is_empty() {
        return ok(json!({ "root_uri": root_uri }));
    }
    ok(json!({ "root_uri": root_uri, "files": files }))
}

/// `GET /get-artifact?path&run_uuid`: a run's file, for the UI.
pub async fn get_run_artifact(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let run = s
        .tracking
        .get_run(&f.req_str_any(&["run_uuid", "run_id"])?)
        .await?;
    let sub = safe_path(&f.req_str("path")?)?;
    let (repo, base) = s.artifacts.resolve(&run.info.artifact_uri).await?;
    download(repo.as_ref(), &base.join(&sub)).await
}

/// The most one `upload-artifact` request may carry (MLflow's limit for this UI route).
const MAX_UI_UPLOAD: usize = 10 * 1024 * 1024;

/// `POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid&path` with the file as the raw body: the
/// UI's upload into a run's artifacts, checked in MLflow's order before the run is looked up.
pub async fn upload_run_artifact(State(s): State<AppState>, req: Request) -> Result<Response> {
    let f = Fields::from_query(req.uri().query().unwrap_or(""));
    let run_id = f
        .str("run_uuid")?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::invalid("Request must specify run_uuid."))?;
    let path = f
        .str("path")?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::invalid("Request must specify path."))?;
    let path = safe_path(&path)?;
    if path.is_root() {
        return Err(Error::invalid("Invalid path"));
    }
    let too_large = || Error::invalid("Artifact size is too large. Max size is 10MB.");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UI_UPLOAD as u64) {
        return Err(too_large());
    }
    let data = match axum::body::to_bytes(req.into_body(), MAX_UI_UPLOAD).await {
        Ok(d) => d,
        Err(_) => return Err(too_large()),
    };
    if data.is_empty() {
        return Err(Error::invalid("Request must specify data."));
    }
    let run = s.tracking.get_run(&run_id).await?;
    let (repo, base) = s
        .artifacts
        .resolve_for_write(&run.info.artifact_uri)
        .await?;
    let body: ByteStream = Box::pin(futures::stream::once(async move { Ok(data) }));
    repo.put(&base.join(&path), body).await?;
    Ok(empty())
}
