//! Leaf types: MLflow's entities as it serialises them (experiments, runs, metrics, registered
//! models, versions, aliases, logged models), the tag names MLflow reserves, and the pure
//! algorithms over metric series. Every layer imports these; they import nothing above them.

pub mod pyjson;
pub mod registry;
pub mod series;
pub mod tracking;
pub mod webhook;

pub use registry::*;
pub use series::{downsample, Downsampler};
pub use tracking::*;

/// The tag that mirrors a run's name.
pub const RUN_NAME_TAG: &str = "mlflow.runName";
/// Where the 2.x client's `runs/log-model` records models on the run.
pub const LOGGED_MODELS_TAG: &str = "mlflow.log-model.history";
/// The logged-model tag listing the registered versions made from it.
pub const MODEL_VERSIONS_TAG: &str = "mlflow.modelVersions";

/// What every search endpoint takes from its client: a filter, an ordering, a page size and a
/// page token (each search adds what it needs beside these).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchRequest {
    pub filter: Option<String>,
    pub order_by: Vec<String>,
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
    /// What the caller may see (the basic-auth app's READ permission), applied before paging so
    /// every page is full and page tokens stay exact.
    pub visible: Visible,
}

/// Which resources of one kind (experiments by id, registered models by name) a search may
/// return: the auth layer's read permission as one condition the store adds to its query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Visible {
    /// No restriction (auth off, or an admin).
    #[default]
    All,
    /// Only these (the caller's readable grants, when the default permission cannot read).
    Only(Vec<String>),
    /// All but these (grants that cannot read, when the default permission can).
    Except(Vec<String>),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An epoch-millisecond time as RFC 3339 in UTC (`2026-11-28T16:05:01.123Z`), the form webhook
/// payloads carry.
pub fn iso_timestamp(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
