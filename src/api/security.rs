//! The tracking server's browser-facing guards, as MLflow 3.5+'s security middleware: Host
//! validation against DNS rebinding (`--allowed-hosts`), refusal of state-changing requests from
//! foreign web origins (`--cors-allowed-origins`), CORS answers for the origins that are allowed,
//! and security headers (`X-Content-Type-Options`, `X-Frame-Options`, a Content-Security-Policy
//! for the UI). Also where forwarding headers are believed: only from `--trusted-proxies`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What the 403 for a foreign Host says.
pub const INVALID_HOST_MSG: &str = "Invalid Host header - possible DNS rebinding attack detected. \
If this host is yours, allow it with --allowed-hosts (MLFLOW_SERVER_ALLOWED_HOSTS).";
/// What the 403 for a foreign origin says.
pub const CORS_BLOCKED_MSG: &str = "Cross-origin request blocked. \
To allow a web origin, list it in --cors-allowed-origins (MLFLOW_SERVER_CORS_ALLOWED_ORIGINS).";

/// The UI's Content-Security-Policy: everything from this origin only, no plugins, no framing by
/// others. Inline styles stay allowed (the runs table renders cells with style attributes).
const UI_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; \
form-action 'self'; frame-ancestors 'self'";

/// Paths answered whatever the Host (probes reach pods by IP or by any name).
const EXEMPT_PATHS: &[&str] = &["/health", "/version"];

/// A CIDR block, `10.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{s}' is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}' has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Shell-style matching of `*` and `?`, ASCII case-insensitive (host names and origins).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The guards' configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Host header patterns; `*` allows every host.
    pub allowed_hosts: Vec<String>,
    /// Web origins (patterns) allowed to make cross-origin requests.
    pub allowed_origins: Vec<String>,
    /// X-Frame-Options value, or `None` to omit the header.
    pub frame_options: Option<HeaderValue>,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_hosts: default_allowed_hosts(None),
            allowed_origins: Vec::new(),
            frame_options: Some(HeaderValue::from_static("SAMEORIGIN")),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Loopback and private-network hosts, any port, plus the host the server listens on.
pub fn default_allowed_hosts(listen_host: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for h in ["localhost", "127.0.0.1", "[::1]", "0.0.0.0"] {
        v.push(h.to_owned());
        v.push(format!("{h}:*"));
    }
    v.extend(["10.*", "192.168.*", "[fc*", "[fd*"].map(str::to_owned));
    v.extend((16..32).map(|i| format!("172.{i}.*")));
    if let Some(h) = listen_host.map(str::trim).filter(|h| !h.is_empty()) {
        let unspecified = h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        if !unspecified {
            let h = if h.contains(':') && !h.starts_with('[') {
                format!("[{h}]")
            } else {
                h.to_owned()
            };
            v.push(h.clone());
            v.push(format!("{h}:*"));
        }
    }
    v
}

impl Policy {
    /// Build from the command line.
    pub fn from_args(args: &crate::config::ServerArgs) -> anyhow::Result<Policy> {
        let hosts: Vec<String> = args
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect();
        let allowed_hosts = if hosts.is_empty() {
            default_allowed_hosts(Some(&args.host))
        } else {
            hosts
        };
        let frame_options = match args.x_frame_options.trim().to_ascii_uppercase().as_str() {
            "" | "NONE" => None,
            v @ ("SAMEORIGIN" | "DENY") => Some(HeaderValue::from_static(if v == "DENY" {
                "DENY"
            } else {
                "SAMEORIGIN"
            })),
            other => {
                anyhow::bail!("--x-frame-options must be SAMEORIGIN, DENY or NONE, not '{other}'")
            }
        };
        let trusted_proxies = args
            .trusted_proxies
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| Cidr::parse(s).map_err(|e| anyhow::anyhow!("--trusted-proxies: {e}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Policy {
            allowed_hosts,
            allowed_origins: args
                .cors_allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            frame_options,
            trusted_proxies,
        })
    }

    pub fn host_allowed(&self, host: &str) -> bool {
        !host.is_empty() && self.allowed_hosts.iter().any(|p| glob_match(p, host))
    }

    fn origin_listed(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|p| glob_match(p, origin))
    }

    /// Whether a request from `peer` may speak for the client in forwarding headers.
    pub fn trusts(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|p| self.trusted_proxies.iter().any(|c| c.contains(p.ip())))
    }
}

/// The `host:port` part of an origin (`https://h:1` -> `h:1`).
fn origin_authority(origin: &str) -> Option<&str> {
    let rest = origin.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/ajax-api/")
}

fn plain(status: StatusCode, msg: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

/// The middleware: Host check, origin check, CORS preflight and headers, security headers.
pub async fn guard(State(policy): State<Arc<Policy>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_owned();
    if !EXEMPT_PATHS.contains(&path.as_str()) && !policy.host_allowed(&host) {
        tracing::warn!(
            host,
            path,
            "refused a request for a host not in --allowed-hosts"
        );
        return secure(
            plain(StatusCode::FORBIDDEN, INVALID_HOST_MSG),
            &policy,
            false,
        );
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(|o| o.trim_end_matches('/').to_owned());
    let mut cors_ok = None;
    if let Some(origin) = origin.as_deref().filter(|_| is_api(&path)) {
        let same = origin_authority(origin).is_some_and(|a| a.eq_ignore_ascii_case(&host));
        let listed = policy.origin_listed(origin);
        if !same && !listed {
            let changes = matches!(
                *req.method(),
                Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::OPTIONS
            );
            if changes {
                tracing::warn!(origin, path, "blocked a cross-origin request");
                return secure(
                    plain(StatusCode::FORBIDDEN, CORS_BLOCKED_MSG),
                    &policy,
                    false,
                );
            }
        } else if listed && !same {
            cors_ok = Some(origin.to_owned());
        }
    }
    if req.method() == Method::OPTIONS {
        if let Some(origin) = &cors_ok {
            let requested = req
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned();
            let mut r = StatusCode::NO_CONTENT.into_response();
            add_cors(r.headers_mut(), origin);
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                requested.unwrap_or(HeaderValue::from_static("content-type, authorization")),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            return secure(r, &policy, false);
        }
    }
    let ui = path == "/" || path.starts_with("/static/");
    let mut resp = next.run(req).await;
    if let Some(origin) = &cors_ok {
        add_cors(resp.headers_mut(), origin);
    }
    secure(resp, &policy, ui)
}

fn add_cors(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn secure(mut resp: Response, policy: &Policy, ui: bool) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(v) = &policy.frame_options {
        h.insert(header::X_FRAME_OPTIONS, v.clone());
    }
    if ui {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(UI_CSP),
        );
    }
    resp
}

/// The `X-Forwarded-*` / identity headers of a request, believed only from a trusted proxy.
#[derive(Debug, Clone, Default)]
pub struct Forwarded {
    /// Scheme the client used (`X-Forwarded-Proto`).
    pub proto: Option<String>,
    /// Host the client used (`X-Forwarded-Host`).
    pub host: Option<String>,
    /// User a proxy authenticated (`X-Forwarded-User`, `X-Remote-User`).
    pub user: Option<String>,
}

impl<S> axum::extract::FromRequestParts<S> for Forwarded
where
    S: Send + Sync,
    Arc<Policy>: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let policy: Arc<Policy> = axum::extract::FromRef::from_ref(state);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Forwarded::from_request(&parts.headers, peer, &policy))
    }
}

impl Forwarded {
    pub fn from_request(
        headers: &HeaderMap,
        peer: Option<&ConnectInfo<SocketAddr>>,
        policy: &Policy,
    ) -> Forwarded {
        if !policy.trusts(peer.map(|c| c.0)) {
            return Forwarded::default();
        }
        let get = |h: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(',').next().unwrap_or("").trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Forwarded {
            proto: get("x-forwarded-proto").filter(|p| p == "http" || p == "https"),
            host: get("x-forwarded-host"),
            user: get("x-forwarded-user").or_else(|| get("x-remote-user")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("localhost:*", "localhost:5000"));
        assert!(glob_match("10.*", "10.1.2.3:80"));
        assert!(!glob_match("10.*", "100.1.2.3"));
        assert!(glob_match("*.example.com", "a.b.example.com"));
        assert!(!glob_match("*.example.com", "example.com.evil"));
        assert!(glob_match("[::1]:*", "[::1]:5000"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("localhost", "localhost.evil"));
    }

    #[test]
    fn default_hosts() {
        let p = Policy::default();
        for ok in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:1",
            "[::1]:5000",
            "10.0.0.1",
            "172.16.0.1:80",
            "172.31.255.255",
            "192.168.0.1:8080",
            "[fd00::1]:80",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "localhost.evil.example",
            "172.32.0.1",
            "127.0.0.1.nip.io",
            "11.0.0.1",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        let with_name = default_allowed_hosts(Some("mlflow.local"));
        assert!(with_name.contains(&"mlflow.local:*".to_owned()));
        assert_eq!(
            default_allowed_hosts(Some("0.0.0.0")).len(),
            default_allowed_hosts(None).len(),
            "listening on every address adds no name"
        );
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.2.3.4".parse().unwrap()));
        assert!(!c.contains("11.2.3.4".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("::1/128")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }
}
