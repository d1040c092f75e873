//! Weir: an MLflow-compatible tracking server, model registry and ONNX model server.
//!
//! The crate is one library wired into three roles by [`cli`]:
//!
//! - [`config`]: the command line (clap), every flag with an environment variable.
//! - [`server`]: `run(state, listener, shutdown)`: serves a router until shutdown, gracefully.
//! - [`app`]: `app(state) -> Router`: every route and layer of `weir server`, in one place.
//! - [`error`]: the one error type and its MLflow JSON shape (`{"error_code","message"}`).
//! - [`api`]: axum handlers, one file per resource; thin: decode, call the domain, encode.
//! - [`tracking`]: experiments, runs, metrics, params, tags, validation limits, run naming.
//! - [`registry`]: registered models, versions, stages, aliases (with history), logged models,
//!   and resolution of `models:/` / `runs:/` URIs for serving.
//! - [`search`]: the filter / order_by grammar shared by every search endpoint.
//! - [`store`]: the storage trait and its SQL implementation for SQLite and PostgreSQL. The only
//!   module with SQL in it.
//! - [`artifacts`]: artifact repositories (local directory, S3) behind one streaming trait, and
//!   the one `safe_path` check every artifact path passes.
//! - [`ui`]: the web UI's files (from `ui/`, embedded at build time).
//! - [`telemetry`]: logging and the Prometheus registry.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod artifacts;
pub mod config;
pub mod error;
pub mod registry;
pub mod roles;
pub mod search;
pub mod secret;
pub mod security;
pub mod server;
pub mod serving;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tracking;
pub mod types;
pub mod ui;

pub use error::{Error, Result};
