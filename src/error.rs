//! The one error type of the domain and store layers, and the one place where it becomes an HTTP
//! response in MLflow's shape: `{"error_code", "message", "sqlstate", "error_class"}`.
//!
//! MLflow clients branch on `error_code` (e.g. `RESOURCE_ALREADY_EXISTS` when registering a model
//! twice is ignored), so codes and statuses follow the captured server exactly.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// MLflow's `ErrorCode` values that Weir produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParameterValue,
    ResourceDoesNotExist,
    ResourceAlreadyExists,
    BadRequest,
    InternalError,
    NotImplemented,
    /// Admission control: the server is saturated or not ready.
    TemporarilyUnavailable,
    /// A request body over the configured limit.
    RequestTooLarge,
    /// The request took longer than `--request-timeout`.
    DeadlineExceeded,
    /// The caller may not do this.
    PermissionDenied,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::NotImplemented => "NOT_IMPLEMENTED",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorCode::RequestTooLarge => "REQUEST_LIMIT_EXCEEDED",
            ErrorCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidParameterValue
            | ErrorCode::ResourceAlreadyExists
            | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::ResourceDoesNotExist => StatusCode::NOT_FOUND,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
        }
    }

    /// The `error_class` MLflow 3 adds beside the code.
    fn error_class(self) -> &'static str {
        match self {
            ErrorCode::ResourceDoesNotExist => "RESOURCE_NOT_FOUND",
            ErrorCode::BadRequest | ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            other => other.as_str(),
        }
    }
}

/// A failure with the MLflow error code a client will see.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceDoesNotExist, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceAlreadyExists, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotImplemented, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, message)
    }
    /// The request ran past `--request-timeout`.
    pub fn timed_out(after: std::time::Duration) -> Self {
        Self::new(
            ErrorCode::DeadlineExceeded,
            format!(
                "The request did not complete within {}s (--request-timeout).",
                after.as_secs()
            ),
        )
    }
    /// An unexpected failure: the detail goes to the log, the client gets a short message.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "{context}");
        Self::new(
            ErrorCode::InternalError,
            format!("Internal error: {context}"),
        )
    }

    /// MLflow's message for a required field that is absent.
    pub fn missing(field: &str) -> Self {
        Self::invalid(format!(
            "Missing value for required parameter '{field}'. See the API docs for more information about request parameters."
        ))
    }

    pub fn is_not_found(&self) -> bool {
        self.code == ErrorCode::ResourceDoesNotExist
    }
}

impl From<sqlx::Error> for Error {
    /// A database that is unreachable or restarting is a 503 the client retries; anything else
    /// is an internal error.
    fn from(e: sqlx::Error) -> Self {
        if database_away(&e) {
            tracing::warn!(error = %e, "the backend store is unavailable");
            return Error::unavailable(
                "The backend store is temporarily unavailable; retry shortly.",
            );
        }
        Error::internal("database error", e)
    }
}

/// Whether a database error means the connection or server went away (as opposed to a bad query).
fn database_away(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Protocol(m) => m.contains("closed") || m.contains("connection"),
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            // PostgreSQL: class 08 (connection exception), 57P01-57P03 (shutdown, cannot
            // connect now), 53300 (too many connections). SQLite: BUSY (5), LOCKED (6).
            c.starts_with("08") || c.starts_with("57P") || c == "53300" || c == "5" || c == "6"
        }),
        _ => false,
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::internal("I/O error", e)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error_code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sqlstate: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_class: Option<&'a str>,
}

/// MLflow's error body, `{"error_code", "message", "sqlstate", "error_class"}`, with `status`; a
/// 503 carries `Retry-After`. The one renderer of MLflow's error shape, for the tracking API and
/// the scoring protocol alike.
pub fn mlflow_response(
    status: StatusCode,
    error_code: &str,
    message: &str,
    sqlstate: Option<&str>,
    error_class: Option<&str>,
) -> Response {
    let body = Body {
        error_code,
        message,
        sqlstate,
        error_class,
    };
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    resp
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        // MLflow omits sqlstate/error_class on NOT_IMPLEMENTED; match it.
        let (sqlstate, error_class) = match self.code {
            ErrorCode::NotImplemented => (None, None),
            c => (Some("KAM00"), Some(c.error_class())),
        };
        mlflow_response(
            self.code.status(),
            self.code.as_str(),
            &self.message,
            sqlstate,
            error_class,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn error_shape() {
        let r = Error::not_found("Run with id=x not found").into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");
        assert_eq!(v["error_class"], "RESOURCE_NOT_FOUND");
        assert_eq!(v["message"], "Run with id=x not found");
        let r = Error::not_implemented("nope").into_response();
        assert_eq!(r.status(), StatusCode::NOT_IMPLEMENTED);
        let b = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert!(v.get("sqlstate").is_none());
    }
}
