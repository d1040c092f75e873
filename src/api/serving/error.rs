//! Why a scoring request failed, and how each protocol says so: MLflow's error body (rendered
//! by [`crate::error::mlflow_response`], the one MLflow renderer) on MLflow's routes, KServe's
//! `{"error": "..."}` on KServe's, a gRPC status on KServe's gRPC service.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::serving::codec::DecodeError;
use crate::serving::pool::InferError;

/// Why a scoring request failed, in the shapes MLflow's scoring server (and KServe) answer.
#[derive(Debug)]
pub enum ScoreError {
    /// Malformed input: 400 `BAD_REQUEST`.
    BadRequest(String),
    /// Input that does not fit the model: 400 `INVALID_PARAMETER_VALUE` / `SCHEMA_ENFORCEMENT_FAILED`.
    Schema(String),
    /// The engine failed on the input: 400, as MLflow answers a failing `predict`.
    Predict(String),
    /// 415 in plain text, as MLflow.
    UnsupportedType(String),
    TooLarge(usize),
    /// Not ready, saturated or shutting down: 503 with `Retry-After`.
    Unavailable(String),
    NotFound(String),
    /// Past `--request-timeout`: 504.
    Timeout(std::time::Duration),
}

impl From<DecodeError> for ScoreError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::BadRequest(m) => ScoreError::BadRequest(m),
            DecodeError::Schema(m) => ScoreError::Schema(m),
        }
    }
}

impl From<InferError> for ScoreError {
    fn from(e: InferError) -> Self {
        match e {
            InferError::Saturated => ScoreError::Unavailable(
                "The model server is at capacity (every inference worker is busy and the queue is full); retry shortly.".into(),
            ),
            InferError::Closed => {
                ScoreError::Unavailable("The model is being unloaded; retry.".into())
            }
            InferError::Failed(m) => ScoreError::Predict(m),
        }
    }
}

pub(super) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

pub(super) fn with_retry_after(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

impl ScoreError {
    fn status(&self) -> StatusCode {
        match self {
            ScoreError::BadRequest(_) | ScoreError::Schema(_) | ScoreError::Predict(_) => {
                StatusCode::BAD_REQUEST
            }
            ScoreError::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ScoreError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ScoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ScoreError::NotFound(_) => StatusCode::NOT_FOUND,
            ScoreError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn message(&self) -> String {
        match self {
            ScoreError::BadRequest(m)
            | ScoreError::Schema(m)
            | ScoreError::UnsupportedType(m)
            | ScoreError::Unavailable(m)
            | ScoreError::NotFound(m) => m.clone(),
            ScoreError::Predict(m) => format!(
                "Encountered an unexpected error while evaluating the model. Verify that the input is compatible with the model for inference. Error: {m}"
            ),
            ScoreError::TooLarge(limit) => {
                format!("The request body is larger than the limit of {limit} bytes (--max-body-bytes).")
            }
            ScoreError::Timeout(after) => format!(
                "The request did not complete within {}s (--request-timeout).",
                after.as_secs()
            ),
        }
    }

    /// MLflow's error body: `{"error_code", "message", "sqlstate", "error_class"}`.
    pub fn mlflow(self) -> Response {
        let status = self.status();
        let message = self.message();
        let (code, sqlstate, class) = match &self {
            ScoreError::BadRequest(_) | ScoreError::Predict(_) => {
                ("BAD_REQUEST", "KAM00", "INVALID_PARAMETER_VALUE")
            }
            ScoreError::Schema(_) => (
                "INVALID_PARAMETER_VALUE",
                "KAM01",
                "SCHEMA_ENFORCEMENT_FAILED",
            ),
            ScoreError::UnsupportedType(_) => {
                return (
                    status,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    )],
                    message,
                )
                    .into_response()
            }
            ScoreError::TooLarge(_) => {
                ("REQUEST_LIMIT_EXCEEDED", "KAM00", "REQUEST_LIMIT_EXCEEDED")
            }
            ScoreError::Unavailable(_) => (
                "TEMPORARILY_UNAVAILABLE",
                "KAM00",
                "TEMPORARILY_UNAVAILABLE",
            ),
            ScoreError::NotFound(_) => ("RESOURCE_DOES_NOT_EXIST", "KAM00", "RESOURCE_NOT_FOUND"),
            ScoreError::Timeout(_) => ("DEADLINE_EXCEEDED", "KAM00", "DEADLINE_EXCEEDED"),
        };
        crate::error::mlflow_response(status, code, &message, Some(sqlstate), Some(class))
    }

    /// The gRPC status KServe's gRPC service answers, with the message HTTP gives.
    pub fn grpc(self) -> tonic::Status {
        let code = match &self {
            ScoreError::BadRequest(_)
            | ScoreError::Schema(_)
            | ScoreError::Predict(_)
            | ScoreError::UnsupportedType(_) => tonic::Code::InvalidArgument,
            ScoreError::TooLarge(_) => tonic::Code::ResourceExhausted,
            ScoreError::Unavailable(_) => tonic::Code::Unavailable,
            ScoreError::NotFound(_) => tonic::Code::NotFound,
            ScoreError::Timeout(_) => tonic::Code::DeadlineExceeded,
        };
        tonic::Status::new(code, self.message())
    }

    /// KServe's error body: `{"error": "..."}`.
    pub fn kserve(self) -> Response {
        let status = self.status();
        let r = json_response(status, json!({"error": self.message()}).to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            with_retry_after(r)
        } else {
            r
        }
    }
}

pub(crate) fn unknown_model(name: &str) -> ScoreError {
    ScoreError::NotFound(format!("Model with name {name} does not exist."))
}
