//! Artifact locations as URIs: splitting them as Python's `urlsplit` does (MLflow's rules are
//! written against it), which hosts a location would make the server connect to, and which
//! locations this server may read at all.
//!
//! A stored location (an experiment's `artifact_location`, a version's `source`) is data a client
//! chose. The server opens only what lies under its own storage: the proxied destination, the
//! default artifact root and the artifacts destination ([`Roots`]). Everything else is refused
//! when read, whatever was stored before.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Schemes whose URIs name a host the server would connect to (MLflow's list).
const HOST_ADDRESSED: &[&str] = &[
    "ftp",
    "sftp",
    "hdfs",
    "viewfs",
    "http",
    "https",
    "mlflow-artifacts",
    "r2",
    "b2",
    "abfss",
];

/// The environment variable that lets an operator allow host-addressed schemes.
pub const ALLOWED_SCHEMES_ENV: &str = "MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES";

/// A URI split as Python's `urllib.parse.urlsplit` does (the parts these rules look at).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UriParts<'a> {
    /// Lowercased scheme, "" when the text is a plain path.
    pub scheme: String,
    pub netloc: &'a str,
    pub path: &'a str,
}

/// Split `uri` into scheme, authority and path (query and fragment dropped).
pub fn split_uri(uri: &str) -> UriParts<'_> {
    let mut rest = uri;
    let mut scheme = String::new();
    if let Some(i) = uri.find(':') {
        let s = &uri[..i];
        let valid = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid {
            scheme = s.to_ascii_lowercase();
            rest = &uri[i + 1..];
        }
    }
    let mut netloc = "";
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = &after[..end];
        rest = &after[end..];
    }
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    UriParts {
        scheme,
        netloc,
        path: &rest[..end],
    }
}

impl UriParts<'_> {
    /// The host in the authority, lowercased, without user info, port or brackets.
    pub fn hostname(&self) -> Option<String> {
        let host_port = self.netloc.rsplit('@').next().unwrap_or("");
        let host = if let Some(v6) = host_port.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            host_port.split(':').next().unwrap_or("")
        };
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    }

    /// The explicit port, `Err` when it is not a number.
    fn port(&self) -> std::result::Result<Option<u16>, ()> {
        let host_port = self.netloc.rsplit('@').next().unwrap_or("");
        let after_host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split_once(']').map(|x| x.1).unwrap_or(""),
            None => host_port.find(':').map(|i| &host_port[i..]).unwrap_or(""),
        };
        match after_host.strip_prefix(':') {
            None | Some("") => Ok(None),
            Some(p) => p.parse::<u16>().map(Some).map_err(|_| ()),
        }
    }
}

/// A relative local location made absolute against `cwd`, as MLflow stores an experiment's
/// `artifact_location` (`resolve_uri_if_local`): `my_location` becomes `<cwd>/my_location` and
/// `file:rel` becomes `file://<cwd>/rel`; absolute paths and other schemes stay as written.
pub fn absolute_if_local(uri: &str, cwd: &std::path::Path) -> String {
    let parts = split_uri(uri);
    let join = |rel: &str| {
        // Like pathlib: empty and `.` segments vanish, `..` stays.
        let mut out = cwd.to_string_lossy().trim_end_matches('/').to_owned();
        for seg in rel.split('/').filter(|s| !s.is_empty() && *s != ".") {
            out.push('/');
            out.push_str(seg);
        }
        out
    };
    match parts.scheme.as_str() {
        "" if !uri.starts_with('/') => join(uri),
        "file" if parts.netloc.is_empty() && !parts.path.starts_with('/') => {
            let rest = &uri["file:".len()..];
            let tail = &rest[parts.path.len()..];
            format!("file://{}{tail}", join(parts.path))
        }
        _ => uri.to_owned(),
    }
}

/// MLflow's artifact proxy route, as it appears in proxy URLs.
pub const PROXY_ROUTE: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// The proxied path an artifact URI names, still percent-encoded: `mlflow-artifacts:/p`,
/// `mlflow-artifacts://host:port/p` and `http(s)://host/.../api/2.0/mlflow-artifacts/artifacts/p`
/// all give `p`. `None` for other URIs. The second value is the URL before the proxy route
/// (for HTTP URLs).
pub fn proxied_path(uri: &str) -> Option<(Option<&str>, &str)> {
    if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
        let path = match rest.strip_prefix("//") {
            Some(authority_and_path) => authority_and_path
                .split_once('/')
                .map(|x| x.1)
                .unwrap_or(""),
            None => rest,
        };
        return Some((None, path.trim_matches('/')));
    }
    if uri.starts_with("http://") || uri.starts_with("https://") {
        let (base, path) = uri.split_once(PROXY_ROUTE)?;
        return Some((Some(base), path.trim_matches('/')));
    }
    None
}

/// Where a host-addressed URI would connect: (scheme family, host, port).
type Target = (String, String, Option<u16>);

fn default_ports(scheme: &str) -> &'static [u16] {
    match scheme {
        "ftp" => &[21],
        "sftp" => &[22],
        "http" => &[80],
        "https" | "r2" | "b2" | "abfss" => &[443],
        "mlflow-artifacts" => &[80, 443],
        _ => &[],
    }
}

/// The hosts a URI would make a server connect to; `None` when it names no host.
fn targets(uri: &str) -> Option<Vec<Target>> {
    let p = split_uri(uri);
    if !HOST_ADDRESSED.contains(&p.scheme.as_str()) {
        return None;
    }
    if p.scheme == "mlflow-artifacts" && p.netloc.is_empty() {
        return None;
    }
    let malformed = || vec![("malformed".to_owned(), p.netloc.to_owned(), None)];
    if p.netloc.contains('\\') || p.netloc.chars().any(char::is_whitespace) {
        return Some(malformed());
    }
    let Ok(port) = p.port() else {
        return Some(malformed());
    };
    let family = match p.scheme.as_str() {
        "viewfs" => "hdfs",
        "https" | "mlflow-artifacts" => "http",
        s => s,
    }
    .to_owned();
    let host = p.hostname().unwrap_or_default();
    let ports: Vec<Option<u16>> = match port {
        Some(p) => vec![Some(p)],
        None if default_ports(&p.scheme).is_empty() => vec![None],
        None => default_ports(&p.scheme).iter().map(|p| Some(*p)).collect(),
    };
    Some(
        ports
            .into_iter()
            .map(|port| (family.clone(), host.clone(), port))
            .collect(),
    )
}

/// The hosts of the server's own artifact storage, which host-addressed sources may name.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    trusted: Vec<Target>,
    /// Schemes the operator allows anyway (`MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES`).
    allowed_schemes: Vec<String>,
}

impl HostPolicy {
    /// Trust the hosts of these locations (the default artifact root, the artifacts destination);
    /// read the allowed schemes from the environment.
    pub fn new(storage: &[&str]) -> HostPolicy {
        let allowed_schemes = std::env::var(ALLOWED_SCHEMES_ENV)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        HostPolicy {
            trusted: storage
                .iter()
                .filter_map(|u| targets(u))
                .flatten()
                .collect(),
            allowed_schemes,
        }
    }

    /// MLflow's `_validate_artifact_uri_scheme`: refuse a URI whose host the server must not
    /// connect to.
    pub fn check(&self, uri: &str, field: &str) -> Result<()> {
        let Some(t) = targets(uri) else {
            return Ok(());
        };
        let scheme = split_uri(uri).scheme;
        if self.allowed_schemes.contains(&scheme) || t.iter().any(|x| self.trusted.contains(x)) {
            return Ok(());
        }
        Err(Error::invalid(format!(
            "'{field}' cannot use the '{scheme}' scheme: the '{scheme}' scheme addresses a host other than the tracking server's configured artifact storage, so the server would connect to the host named in the URI. Set the {ALLOWED_SCHEMES_ENV} environment variable on the server to allow it."
        )))
    }
}

/// A place under which the server may read artifacts directly.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Root {
    /// A local directory (absolute, symlinks resolved when it exists).
    Local(PathBuf),
    /// An S3 bucket and key prefix.
    S3 { bucket: String, prefix: Vec<String> },
}

/// The locations a server process may open besides its proxied destination.
#[derive(Debug, Clone, Default)]
pub struct Roots(Vec<Root>);

impl Roots {
    /// The roots named by these locations (the default artifact root, the artifacts
    /// destination); `mlflow-artifacts:` and HTTP locations add none (they reach the proxy).
    pub fn new(locations: &[&str]) -> Roots {
        let mut roots = Vec::new();
        for l in locations {
            if let Some(loc) = super::S3Location::parse(l) {
                roots.push(Root::S3 {
                    bucket: loc.bucket,
                    prefix: segments(&loc.prefix),
                });
                continue;
            }
            let p = split_uri(l);
            if p.scheme.is_empty() || p.scheme == "file" {
                let path = if p.scheme == "file" { p.path } else { l };
                if let Ok(abs) = std::path::absolute(path) {
                    roots.push(Root::Local(canonical_or(abs)));
                }
            }
        }
        Roots(roots)
    }

    /// Whether the local directory `dir` (canonical) lies under a root.
    pub fn allows_local(&self, dir: &std::path::Path) -> bool {
        self.0.iter().any(|r| match r {
            Root::Local(root) => dir.starts_with(canonical_or(root.clone())),
            Root::S3 { .. } => false,
        })
    }

    /// Whether `bucket`/`key` lies under a root.
    pub fn allows_s3(&self, bucket: &str, key: &str) -> bool {
        let key = segments(key);
        self.0.iter().any(|r| match r {
            Root::S3 { bucket: b, prefix } => {
                b == bucket && key.len() >= prefix.len() && key[..prefix.len()] == prefix[..]
            }
            Root::Local(_) => false,
        })
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn canonical_or(p: PathBuf) -> PathBuf {
    p.canonicalize().unwrap_or(p)
}

/// The error for a location the server will not read.
pub fn outside_roots(uri: &str) -> Error {
    Error::invalid(format!(
        "The tracking server does not read artifact location '{uri}': it lies outside the server's artifact storage (--default-artifact-root, --artifacts-destination)."
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_locations_become_absolute_like_mlflow() {
        use super::absolute_if_local as abs;
        let cwd = std::path::Path::new("/tmp");
        assert_eq!(abs("my_location", cwd), "/tmp/my_location");
        assert_eq!(abs("./a/../b", cwd), "/tmp/a/../b");
        assert_eq!(abs("file:rel/x", cwd), "file:///tmp/rel/x");
        assert_eq!(abs("file:./x?q=1", cwd), "file:///tmp/x?q=1");
        for kept in [
            "/abs",
            "file:///abs",
            "s3://b/k",
            "mlflow-artifacts:/x",
            "file://localhost/rel",
        ] {
            assert_eq!(abs(kept, cwd), kept);
        }
    }

    use super::*;

    #[test]
    fn splits_like_urlsplit() {
        let p = split_uri("mlflow-artifacts://host:9000/models/a?x=1#f");
        assert_eq!(p.scheme, "mlflow-artifacts");
        assert_eq!(p.netloc, "host:9000");
        assert_eq!(p.path, "/models/a");
        assert_eq!(p.hostname().as_deref(), Some("host"));
        assert_eq!(split_uri("/tmp/x").scheme, "");
        assert_eq!(split_uri("my_location").path, "my_location");
        assert_eq!(split_uri("models:/m-1").path, "/m-1");
        assert_eq!(split_uri("S3://B/k").scheme, "s3");
        assert_eq!(
            split_uri("http://u:p@[::1]:80/x").hostname().as_deref(),
            Some("::1")
        );
    }

    #[test]
    fn host_addressed_schemes() {
        let p = HostPolicy::new(&["s3://bucket/root", "http://minio:9000/x"]);
        assert!(p.check("s3://other/x", "source").is_ok());
        assert!(p.check("mlflow-artifacts:/x", "source").is_ok());
        let e = p.check("http://attacker.example/x", "source").unwrap_err();
        assert!(
            e.message
                .starts_with("'source' cannot use the 'http' scheme"),
            "{e:?}"
        );
        assert!(p
            .check("mlflow-artifacts://host:9000/models", "source")
            .is_err());
        assert!(p.check("http://minio:9000/other", "source").is_ok());
        assert!(p.check("https://minio:9000/other", "source").is_ok());
        assert!(p.check("ftp://h\\x/a", "source").is_err());
    }

    #[test]
    fn roots() {
        let dir = tempfile::tempdir().unwrap();
        let r = Roots::new(&[
            &format!("file://{}", dir.path().display()),
            "s3://bucket/pre/fix",
            "mlflow-artifacts:",
        ]);
        let inside = dir.path().join("1/x");
        std::fs::create_dir_all(&inside).unwrap();
        assert!(r.allows_local(&inside.canonicalize().unwrap()));
        assert!(!r.allows_local(std::path::Path::new("/etc")));
        assert!(r.allows_s3("bucket", "pre/fix/1/a"));
        assert!(!r.allows_s3("bucket", "pre/fixed"));
        assert!(!r.allows_s3("other", "pre/fix/1"));
    }
}
