//! Tracking entities, shaped as MLflow serialises them (proto JSON: unset and empty fields
//! omitted, ids as strings, times as epoch milliseconds).

use serde::{Serialize, Serializer};

/// A key/value pair: run tags, params, experiment tags, input tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: String,
    pub last_update_time: i64,
    pub creation_time: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    /// MLflow 3 reports the workspace of every experiment; Weir has one.
    pub workspace: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_uuid: String,
    pub experiment_id: String,
    pub run_name: String,
    pub user_id: String,
    pub status: String,
    pub start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: String,
    pub run_id: String,
}

/// A metric value: proto JSON writes NaN and infinities as strings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricValue(pub f64);

impl Serialize for MetricValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v == f64::INFINITY {
            s.serialize_str("Infinity")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-Infinity")
        } else {
            s.serialize_f64(v)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub key: String,
    pub value: MetricValue,
    pub timestamp: i64,
    pub step: i64,
    /// Set only where MLflow returns it (bulk-interval history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// A metric as logged, with the MLflow 3 links to a model and a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMetric {
    pub key: String,
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
    pub model_id: Option<String>,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunData {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetInput {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
    pub dataset: Dataset,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInput {
    pub model_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelOutput {
    pub model_id: String,
    pub step: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInputs {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dataset_inputs: Vec<DatasetInput>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_inputs: Vec<ModelInput>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunOutputs {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_outputs: Vec<ModelOutput>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
    pub inputs: RunInputs,
    /// `runs/create` answers without `outputs`; `runs/get` and `runs/search` include it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<RunOutputs>,
}

/// Which lifecycle stages a search covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewType {
    ActiveOnly,
    DeletedOnly,
    All,
}

impl ViewType {
    pub fn parse(s: Option<&str>) -> crate::Result<ViewType> {
        match s.map(|s| s.to_ascii_uppercase()) {
            None => Ok(ViewType::ActiveOnly),
            Some(s) => match s.as_str() {
                "" | "ACTIVE_ONLY" | "1" => Ok(ViewType::ActiveOnly),
                "DELETED_ONLY" | "2" => Ok(ViewType::DeletedOnly),
                "ALL" | "3" => Ok(ViewType::All),
                _ => Err(crate::Error::invalid(format!(
                    "Invalid value {s} for parameter 'view_type' supplied. Valid values are ACTIVE_ONLY, DELETED_ONLY, ALL"
                ))),
            },
        }
    }

    /// The lifecycle stages this view includes.
    pub fn stages(self) -> &'static [&'static str] {
        match self {
            ViewType::ActiveOnly => &["active"],
            ViewType::DeletedOnly => &["deleted"],
            ViewType::All => &["active", "deleted"],
        }
    }
}

/// One page of search results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

/// Run statuses MLflow knows.
pub const RUN_STATUSES: &[&str] = &["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_serialise_like_proto_json() {
        let m = |v| serde_json::to_string(&MetricValue(v)).unwrap();
        assert_eq!(m(0.5), "0.5");
        assert_eq!(m(f64::NAN), "\"NaN\"");
        assert_eq!(m(f64::INFINITY), "\"Infinity\"");
        assert_eq!(m(f64::NEG_INFINITY), "\"-Infinity\"");
    }
}
