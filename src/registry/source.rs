//! Which `source` a model version may be registered from: MLflow 3.17's rules
//! (`_validate_source_run`, `_validate_source_model`, `_validate_non_local_source_contains_relative_paths`
//! and the host-addressed scheme policy in `mlflow/server/handlers.py`), so a version can never
//! point the server at the host's files or at a host it should not connect to.
//!
//! - A local path or `file://` source must lie inside the artifact directory of the run (or
//!   logged model) the request names.
//! - Other sources may not climb with `..` (also percent-encoded, any number of times), hold NUL,
//!   or be anything but an absolute, normalised path.
//! - `runs:/<id>/...` must name the request's run; `models:/m-<id>` the request's logged model;
//!   `mlflow-artifacts:` sources must lie inside that run's (or model's) artifact location.
//! - `models:/<name>/<version>` (copying a version) resolves to that version's run and model.
//! - Schemes that make a server connect to the host they name (`http`, `ftp`, ...) are refused
//!   unless they target the server's own artifact storage or the operator allows the scheme.

use std::path::{Component, Path, PathBuf};

pub use crate::artifacts::location::{split_uri, UriParts};
use crate::error::{Error, ErrorCode, Result};

/// Percent-decoding until nothing changes (`unquote` applied repeatedly); `plus` also turns `+`
/// into a space, as `unquote_plus`.
fn unquote_fully(s: &str, plus: bool) -> String {
    let mut cur = s.to_owned();
    // Each round shortens the text, so this ends; the bound is a second guard.
    for _ in 0..64 {
        let step = if plus {
            cur.replace('+', " ")
        } else {
            cur.clone()
        };
        let next = percent_encoding::percent_decode_str(&step)
            .decode_utf8_lossy()
            .into_owned();
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

/// Whether the source is a local path (no scheme, or `file:`), as MLflow's `is_local_uri`. A
/// `file://` URI naming another host is MLflow's (500) error.
pub fn is_local(uri: &str) -> Result<bool> {
    let p = split_uri(uri);
    if p.scheme.is_empty() {
        return Ok(true);
    }
    if p.scheme == "file" {
        let remote = p.hostname().is_some_and(|h| {
            !(h == "." || h.starts_with("localhost") || h.starts_with("127.0.0.1"))
        });
        if remote {
            return Err(Error::new(
                ErrorCode::InternalError,
                format!(
                    "{uri} is not a valid remote uri. For remote access on windows, please consider using a different scheme such as SMB (e.g. smb://<hostname>/<path>)."
                ),
            ));
        }
        return Ok(true);
    }
    Ok(false)
}

/// The file system path of a local URI (`file:///a%20b` -> `/a b`).
pub fn local_path(uri: &str) -> PathBuf {
    let raw = if uri.starts_with("file:") {
        split_uri(uri).path
    } else {
        uri
    };
    PathBuf::from(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// `Path.resolve()`: absolute (against the working directory), symlinks of the part that exists
/// followed, `.` and `..` folded.
pub fn resolve_path(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
        if let Ok(real) = out.canonicalize() {
            out = real;
        }
    }
    out
}

fn invalid_for(source: &str, id_name: &str) -> Error {
    Error::invalid(format!(
        "Invalid model version source: '{source}'. The {id_name} request parameter must identify the resource that contains the source."
    ))
}

/// Sources that are not local may not climb out of where they point, however encoded.
pub fn check_no_relative_parts(source: &str) -> Result<()> {
    let bad = || {
        Error::invalid(format!(
            "Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path references present. Please provide an absolute path."
        ))
    };
    let decoded = unquote_fully(source, true);
    let path = split_uri(&decoded).path.trim_end_matches('/').to_owned();
    let mut collapsed = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    if collapsed.contains('\0') || decoded.split('/').any(|p| p == "..") {
        return Err(bad());
    }
    // What `Path(path).resolve()` would leave unchanged: an absolute path with no `.` parts.
    let normal = collapsed.starts_with('/') && !collapsed.split('/').any(|s| s == "." || s == "..");
    if !normal {
        return Err(bad());
    }
    Ok(())
}

/// A parsed `models:/` URI, as MLflow's `_parse_model_uri` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelsUri {
    /// `models:/<id>`: a logged model.
    Id(String),
    Version {
        name: String,
        version: String,
    },
    Stage {
        name: String,
        stage: String,
    },
    Latest {
        name: String,
    },
    Alias {
        name: String,
        alias: String,
    },
}

pub fn parse_models_uri(uri: &str) -> Option<ModelsUri> {
    let p = split_uri(uri);
    if p.scheme != "models" || !p.path.starts_with('/') || p.path.len() <= 1 {
        return None;
    }
    let parts: Vec<&str> = p.path.trim_start_matches('/').split('/').collect();
    if parts.len() > 2 || parts[0].trim().is_empty() {
        return None;
    }
    if let [name, suffix] = parts[..] {
        if suffix.trim().is_empty() {
            return None;
        }
        return Some(if suffix.chars().all(|c| c.is_ascii_digit()) {
            ModelsUri::Version {
                name: name.to_owned(),
                version: suffix.to_owned(),
            }
        } else if suffix.eq_ignore_ascii_case("latest") {
            ModelsUri::Latest {
                name: name.to_owned(),
            }
        } else {
            ModelsUri::Stage {
                name: name.to_owned(),
                stage: suffix.to_owned(),
            }
        });
    }
    if p.path.contains('@') {
        let (name, alias) = parts[0].rsplit_once('@')?;
        if alias.trim().is_empty() {
            return None;
        }
        return Some(ModelsUri::Alias {
            name: name.to_owned(),
            alias: alias.to_owned(),
        });
    }
    Some(ModelsUri::Id(parts[0].to_owned()))
}

/// The run id a `runs:/<id>/...` URI names.
pub fn runs_uri_run_id(uri: &str) -> Option<&str> {
    let p = split_uri(uri);
    if p.scheme != "runs" || !p.path.starts_with('/') || p.path.len() <= 1 {
        return None;
    }
    let id = p.path[1..].split('/').next().unwrap_or("");
    (!id.is_empty()).then_some(id)
}

/// Scheme, authority and decoded path parts, for comparing a source with its root.
fn normalized_parts(uri: &str) -> (String, String, Vec<String>) {
    let p = split_uri(uri);
    let parts = p
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| unquote_fully(s, false))
        .collect();
    (p.scheme, p.netloc.to_ascii_lowercase(), parts)
}

/// Whether `source` lies at or below `root` (same scheme and authority).
pub fn within_root(source: &str, root: &str) -> bool {
    let (ss, sa, sp) = normalized_parts(source);
    let (rs, ra, rp) = normalized_parts(root);
    ss == rs && sa == ra && !rp.is_empty() && sp.len() >= rp.len() && sp[..rp.len()] == rp[..]
}

/// `mlflow-artifacts:` sources and HTTP URLs of an artifact proxy.
pub fn is_mlflow_artifact_source(source: &str) -> bool {
    let (scheme, _, parts) = normalized_parts(source);
    if scheme == "mlflow-artifacts" {
        return true;
    }
    const ROUTE: [&str; 4] = ["api", "2.0", "mlflow-artifacts", "artifacts"];
    (scheme == "http" || scheme == "https")
        && parts
            .windows(ROUTE.len())
            .any(|w| w.iter().eq(ROUTE.iter()))
}

/// What a source is checked against: the artifact location of the run or logged model the
/// request names (`None` when the request names none, or it does not exist).
pub struct Owner<'a> {
    /// `run_id` or `model_id`, as the messages name it.
    pub id_name: &'static str,
    /// The id the request gave, if any.
    pub id: Option<&'a str>,
    /// That resource's artifact location, when it exists.
    pub artifact_location: Option<&'a str>,
}

/// Check `source` against the run or logged model named by the request (MLflow's
/// `_validate_source_run` / `_validate_source_model`).
pub fn check_source(source: &str, owner: &Owner<'_>) -> Result<()> {
    let by_model = owner.id_name == "model_id";
    if is_local(source)? {
        let mut shown = source.to_owned();
        if let (Some(_), Some(root)) = (owner.id, owner.artifact_location) {
            let resolved = resolve_path(&local_path(source));
            shown = resolved.display().to_string();
            if is_local(root)? {
                let root = resolve_path(&local_path(root));
                if resolved.starts_with(&root) {
                    return Ok(());
                }
            }
        } else if owner.id.is_some() {
            return Err(invalid_for(source, owner.id_name));
        }
        let what = if by_model { "model_id" } else { "run_id" };
        return Err(Error::invalid(format!(
            "Invalid model version source: '{shown}'. To use a local path as a model version source, the {what} request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the {what}."
        )));
    }
    check_no_relative_parts(source)?;
    let p = split_uri(source);
    match p.scheme.as_str() {
        "runs" => {
            if by_model || !p.netloc.is_empty() {
                return Err(invalid_for(source, owner.id_name));
            }
            if owner.id.is_some() && runs_uri_run_id(source) == owner.id {
                return Ok(());
            }
            return Err(invalid_for(source, "run_id"));
        }
        "models" => {
            if !p.netloc.is_empty() {
                return Err(invalid_for(source, "model_id"));
            }
            match parse_models_uri(source) {
                None => return Err(invalid_for(source, "model_id")),
                Some(ModelsUri::Id(id)) => {
                    if by_model && owner.id == Some(id.as_str()) {
                        return Ok(());
                    }
                    return Err(invalid_for(source, "model_id"));
                }
                Some(_) => {}
            }
        }
        _ => {}
    }
    if is_mlflow_artifact_source(source) {
        if let (Some(_), Some(root)) = (owner.id, owner.artifact_location) {
            if within_root(source, root) {
                return Ok(());
            }
        }
        return Err(invalid_for(source, owner.id_name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_parts_are_refused() {
        for bad in [
            "mlflow-artifacts://host:9000/models/../../../",
            "http://host:9000/models/../../../",
            "https://host/api/2.0/mlflow-artifacts/artifacts/../../../",
            "s3a://my_bucket/api/2.0/mlflow-artifacts/artifacts/../../../",
            "mlflow-artifacts://host:9000/models/..%2f..%2fartifacts",
            "mlflow-artifacts://host:9000/models/artifact%00",
            "mlflow-artifacts:/models/%252e%252e/x",
            "dbfs:/run/artifacts/a%3f/../../../../",
            "s3://bucket",
            "s3://bucket/a/./b",
            "mlflow-artifacts:models",
        ] {
            assert!(check_no_relative_parts(bad).is_err(), "{bad}");
        }
        for ok in [
            "mlflow-artifacts:/models",
            "mlflow-artifacts:/models/",
            "mlflow-artifacts:/models///",
            "mlflow-artifacts:/models/foo///bar",
            "mlflow-artifacts://host:9000/models/artifact/..../",
            "s3://bucket/models/m",
            "runs:/abc/model",
        ] {
            assert!(check_no_relative_parts(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn models_uris() {
        assert_eq!(
            parse_models_uri("models:/m-123"),
            Some(ModelsUri::Id("m-123".into()))
        );
        assert_eq!(
            parse_models_uri("models:/iris/3"),
            Some(ModelsUri::Version {
                name: "iris".into(),
                version: "3".into()
            })
        );
        assert!(matches!(
            parse_models_uri("models:/iris@champ"),
            Some(ModelsUri::Alias { .. })
        ));
        assert_eq!(parse_models_uri("models:/"), None);
        assert_eq!(parse_models_uri("models:/a/b/c"), None);
        assert_eq!(runs_uri_run_id("runs:/abc/model"), Some("abc"));
        assert_eq!(runs_uri_run_id("runs:/"), None);
    }

    #[test]
    fn local_sources_must_lie_in_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("1/abc/artifacts");
        std::fs::create_dir_all(&root).unwrap();
        let root_uri = format!("file://{}", root.display());
        let owner = Owner {
            id_name: "run_id",
            id: Some("abc"),
            artifact_location: Some(&root_uri),
        };
        for ok in [
            root_uri.clone(),
            format!("{root_uri}/model"),
            format!("{root_uri}/."),
            format!("{root_uri}/model/.."),
            root.display().to_string(),
        ] {
            assert!(check_source(&ok, &owner).is_ok(), "{ok}");
        }
        for bad in [
            "/tmp".to_owned(),
            "file:///etc".to_owned(),
            format!("{root_uri}/../../x"),
            "/".to_owned(),
        ] {
            let e = check_source(&bad, &owner).unwrap_err();
            assert!(e.message.contains("To use a local path"), "{bad}: {e:?}");
        }
        let nobody = Owner {
            id_name: "run_id",
            id: None,
            artifact_location: None,
        };
        assert!(check_source(&root_uri, &nobody).is_err());
        let e = check_source("file://123.456.789.123/path/to/source", &owner).unwrap_err();
        assert_eq!(e.code, ErrorCode::InternalError);
        assert!(e.message.contains("is not a valid remote uri"));
    }

    #[test]
    fn proxied_sources_must_lie_in_the_owner() {
        let owner = Owner {
            id_name: "run_id",
            id: Some("abc"),
            artifact_location: Some("mlflow-artifacts:/1/abc/artifacts"),
        };
        assert!(check_source("mlflow-artifacts:/1/abc/artifacts/model", &owner).is_ok());
        assert!(check_source("mlflow-artifacts:/1/other/artifacts/model", &owner).is_err());
        assert!(check_source("runs:/abc/model", &owner).is_ok());
        assert!(check_source("runs:/other/model", &owner).is_err());
        assert!(check_source("s3://bucket/m", &owner).is_ok());
        let model = Owner {
            id_name: "model_id",
            id: Some("m-1"),
            artifact_location: Some("mlflow-artifacts:/1/models/m-1/artifacts"),
        };
        assert!(check_source("models:/m-1", &model).is_ok());
        assert!(check_source("models:/m-2", &model).is_err());
        assert!(check_source("runs:/abc/model", &model).is_err());
        assert!(check_source("mlflow-artifacts:/1/models/m-1/artifacts", &model).is_ok());
        assert!(check_source("file:///path/to/model", &model).is_err());
    }
}
