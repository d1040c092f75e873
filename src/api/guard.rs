//! The guard every `weir server` request passes (MLflow 3.5+'s security middleware): Host
//! validation against DNS rebinding, refusal of state-changing requests from foreign web origins,
//! CORS answers for the origins that are allowed, and security headers (`X-Content-Type-Options`,
//! `X-Frame-Options`, a Content-Security-Policy for the UI). Also [`Forwarded`]: the forwarding
//! headers of a request, believed only from a trusted proxy. The rules live in
//! [`crate::security::Policy`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::security::Policy;

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
        let mut fwd = Forwarded::from_request(&parts.headers, peer, &policy);
        // A user the basic-auth app authenticated is who made the change, whatever a proxy says.
        if let Some(who) = parts.extensions.get::<crate::auth::Identity>() {
            fwd.user = Some(who.username.clone());
        }
        Ok(fwd)
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
