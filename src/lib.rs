//! Weir: an MLflow-compatible tracking server, model registry and model server (ONNX,
//! scikit-learn, XGBoost and LightGBM, with no Python).
//!
//! One library wired into three roles by [`roles`] (`weir server`, `weir models serve`,
//! `weir db upgrade`). Layers point down, never up (docs/architecture.md draws them):
//!
//! - Roles and wiring: [`roles`] (build state, bind, serve until SIGTERM), [`config`] (the
//!   command line, every flag with an environment variable), [`app`] (every router and layer of
//!   both roles), [`state`] (what `weir server`'s handlers reach), [`server`] (the HTTP server
//!   loop: connection limits and timeouts, graceful shutdown).
//! - Protocols: [`api`] (axum handlers: MLflow's REST API, the artifact proxy, MLflow scoring
//!   and KServe V1/V2 in [`api::serving`], the request guard); thin: decode, call the domain,
//!   encode. [`ui`] serves the web UI embedded at build time.
//! - Domain: [`tracking`] (experiments, runs, metrics, validation limits, run naming),
//!   [`registry`] (registered models, versions, stages, aliases, logged models, version sources,
//!   `models:/` and `runs:/` resolution, move announcements), [`serving`] (model sources, the
//!   cache, loading, inference backends and worker pool, the native model flavors, hot reload,
//!   the scoring codecs), [`webhooks`] (MLflow's webhook API and the delivery of registry events
//!   from the durable outbox: signed, retried, once per event across replicas).
//! - Storage: [`store`] (the storage traits and their SQL for SQLite and PostgreSQL; the only
//!   module with SQL), [`artifacts`] (local directory and S3 behind one streaming trait, the one
//!   `safe_path` check, and which locations a server may read).
//! - Access: [`auth`] (the basic-auth app: users, per-resource permissions, the route table
//!   and the middleware that enforces it).
//! - Leaves, imported by every layer: [`types`] (MLflow's entities as it serialises them),
//!   [`search`] (the filter / order_by grammar and each entity's searchable fields),
//!   [`error`] (the one error type and MLflow's error shape), [`security`] (allowed hosts,
//!   origins and trusted proxies), [`secret`] (URIs that hold passwords), [`telemetry`]
//!   (logging and the Prometheus registry).
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod artifacts;
pub mod auth;
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
pub mod webhooks;

pub use error::{Error, Result};
