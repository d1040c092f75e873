//! The wire protocols: axum handlers (decode MLflow's request fields, call the domain, encode
//! MLflow's JSON), one file per resource, and KServe's gRPC service ([`grpc`]). No SQL and no
//! business rules here.

pub mod artifacts;
pub mod auth;
pub mod experiments;
pub mod fields;
pub mod grpc;
pub mod guard;
pub mod logged_models;
pub mod meta;
pub mod registry;
pub mod runs;
pub mod serving;
pub mod session;
pub mod tokens;
pub mod webhooks;

pub use fields::Fields;

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::error::Result;

/// MLflow's answer to a call that returns nothing: `{}`.
pub fn empty() -> Response {
    Json(serde_json::Map::new()).into_response()
}

/// Serialise a successful answer.
pub fn ok<T: Serialize>(v: T) -> Result<Response> {
    Ok(Json(v).into_response())
}
