//! Registry entities, shaped as MLflow serialises them.

use serde::Serialize;

use super::tracking::{KeyValue, MetricValue};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisteredModelAlias {
    pub alias: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The newest version in each stage.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latest_versions: Vec<ModelVersion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<RegisteredModelAlias>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub current_stage: String,
    /// MLflow always sends it, as "" when unset.
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    pub run_link: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Where the files are (what get-download-uri answers); not part of MLflow's JSON.
    #[serde(skip)]
    pub storage_location: String,
    /// The MLflow 3 logged model behind this version; not part of MLflow's JSON here.
    #[serde(skip)]
    pub model_id: Option<String>,
}

/// One move of an alias: set, moved, or deleted (`to_version` None).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasEvent {
    pub name: String,
    pub alias: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_version: Option<String>,
    pub changed_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedModelMetric {
    pub key: String,
    pub value: MetricValue,
    pub timestamp: i64,
    pub step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    pub model_id: String,
    pub run_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggedModelInfo {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub artifact_uri: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    pub model_type: String,
    pub source_run_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LoggedModelData {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<LoggedModelMetric>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggedModel {
    pub info: LoggedModelInfo,
    pub data: LoggedModelData,
}

/// Model version stages.
pub const STAGES: &[&str] = &["None", "Staging", "Production", "Archived"];

/// Canonical spelling of a stage name (case-insensitive), or MLflow's error.
pub fn canonical_stage(s: &str) -> crate::Result<&'static str> {
    STAGES
        .iter()
        .find(|st| st.eq_ignore_ascii_case(s))
        .copied()
        .ok_or_else(|| {
            crate::Error::invalid(format!(
                "Invalid Model Version stage: {s}. Value must be one of None, Staging, Production, Archived."
            ))
        })
}

/// Logged model statuses.
pub const LOGGED_MODEL_STATUSES: &[&str] = &[
    "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED",
];
