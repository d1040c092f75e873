//! `weir models serve --auth-token-file`: the scoring routes require
//! `Authorization: Bearer <token>`. Probes and scrapers stay open (readiness, liveness,
//! `/version`, `/metrics`), so Kubernetes needs no secret. A refusal is a 401 in the route's
//! protocol: KServe's `{"error": ...}` on its paths, MLflow's `{"error_code", "message"}` on the
//! others, `UNAUTHENTICATED` on gRPC.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::json_response;

/// The token scoring requests must present; only its SHA-256 is kept, and presented tokens are
/// hashed too, so the comparison takes the same time whatever their length.
#[derive(Clone)]
pub struct ScoringToken([u8; 32]);

impl std::fmt::Debug for ScoringToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScoringToken(***)")
    }
}

impl ScoringToken {
    /// From the token file's content: trimmed; it must be non-empty printable ASCII (it travels
    /// in a header).
    pub fn from_file_content(content: &str) -> Result<ScoringToken, String> {
        let t = content.trim();
        if t.is_empty() {
            return Err("the token file is empty".into());
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token must be printable ASCII without spaces".into());
        }
        Ok(ScoringToken(Sha256::digest(t.as_bytes()).into()))
    }

    /// Whether `presented` is the token (constant time).
    pub fn matches(&self, presented: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(d.ct_eq(&self.0))
    }

    /// Whether an `Authorization` header value carries the token.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        authorization
            .and_then(crate::auth::tokens::parse_bearer)
            .is_some_and(|t| self.matches(t))
    }
}

/// Routes that answer without the token: readiness, liveness, version and metrics.
pub fn is_open(path: &str) -> bool {
    matches!(
        path,
        "/ping" | "/health" | "/version" | "/metrics" | "/v2/health/live" | "/v2/health/ready"
    ) || (path.starts_with("/v2/models/") && path.ends_with("/ready"))
}

const MESSAGE: &str =
    "This model server requires a token: send 'Authorization: Bearer <token>' (--auth-token-file).";

/// The 401 of `path`'s protocol.
pub fn unauthorized(path: &str) -> Response {
    let mut r = if super::is_kserve_path(path) {
        json_response(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({ "error": MESSAGE }).to_string(),
        )
    } else {
        crate::error::mlflow_response(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            MESSAGE,
            None,
            None,
        )
    };
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// The HTTP layer: every route but the open ones needs the token.
pub async fn require(State(token): State<Arc<ScoringToken>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if is_open(path)
        || token.accepts(
            req.headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
        )
    {
        return next.run(req).await;
    }
    unauthorized(path)
}

/// The gRPC check of inference calls (the health service stays open): without a token
/// configured every call passes; with one, calls without it get `UNAUTHENTICATED`.
#[derive(Clone)]
pub struct GrpcCheck(pub Option<Arc<ScoringToken>>);

impl tonic::service::Interceptor for GrpcCheck {
    fn call(&mut self, req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        match &self.0 {
            Some(t) if !t.accepts(req.metadata().get("authorization").map(|v| v.as_bytes())) => {
                Err(tonic::Status::unauthenticated(MESSAGE))
            }
            _ => Ok(req),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly() {
        let t = ScoringToken::from_file_content("  s3cret-token\n").unwrap();
        assert!(t.matches("s3cret-token"));
        assert!(!t.matches("s3cret-toke"));
        assert!(!t.matches("s3cret-token "));
        assert!(t.accepts(Some(b"Bearer s3cret-token")));
        assert!(!t.accepts(Some(b"Basic s3cret-token")));
        assert!(!t.accepts(None));
        assert!(ScoringToken::from_file_content(" \n").is_err());
        assert!(ScoringToken::from_file_content("two words").is_err());
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn probes_stay_open() {
        for p in [
            "/ping",
            "/health",
            "/metrics",
            "/v2/health/ready",
            "/v2/models/m/ready",
        ] {
            assert!(is_open(p), "{p}");
        }
        for p in [
            "/invocations",
            "/v2/models/m/infer",
            "/v1/models/m",
            "/v2",
            "/v2/models/m",
        ] {
            assert!(!is_open(p), "{p}");
        }
    }
}
