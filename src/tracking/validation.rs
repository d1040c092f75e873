//! MLflow's input limits and naming rules, with MLflow's messages.

use crate::error::{Error, Result};
use crate::types::{DatasetInput, KeyValue, NewMetric};

pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 5000;
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub const MAX_DATASET_NAME_SIZE: usize = 500;
pub const MAX_DATASET_DIGEST_SIZE: usize = 36;
pub const MAX_DATASET_SOURCE_SIZE: usize = 65_535;
pub const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
pub const MAX_DATASET_PROFILE_SIZE: usize = 16_777_215;

const BAD_CHARACTERS: &str = "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).";

/// Keys become file names in some stores: allowed characters only, and a path that normalises
/// to itself.
fn valid_name(kind: &str, name: &str) -> Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/' | ':'));
    if name.is_empty() || !ok_chars {
        return Err(Error::invalid(format!(
            "Invalid {kind} name: '{name}'. {BAD_CHARACTERS}"
        )));
    }
    let norm = normpath(name);
    if norm != name || norm == "." || norm.starts_with("..") || norm.starts_with('/') {
        return Err(Error::invalid(format!(
            "Invalid {kind} name: '{name}'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '{norm}'"
        )));
    }
    Ok(())
}

/// `posixpath.normpath` for the cases that matter here.
fn normpath(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn length(what: &str, limit: usize, value: &str) -> Result<()> {
    let n = value.chars().count();
    if n > limit {
        let head: String = value.chars().take(250).collect();
        return Err(Error::invalid(format!(
            "{what} '{head}' had length {n}, which exceeded length limit of {limit}"
        )));
    }
    Ok(())
}

pub fn metric(m: &NewMetric) -> Result<()> {
    valid_name("metric", &m.key)?;
    length("Metric name", MAX_ENTITY_KEY_LENGTH, &m.key)?;
    if m.timestamp < 0 {
        return Err(Error::invalid(format!(
            "Got invalid timestamp {} for metric '{}' (value={}). Timestamp must be a nonnegative long (64-bit integer) ",
            m.timestamp, m.key, m.value
        )));
    }
    Ok(())
}

pub fn param(p: &KeyValue) -> Result<()> {
    valid_name("parameter", &p.key)?;
    length("Param key", MAX_ENTITY_KEY_LENGTH, &p.key)?;
    length("Param value", MAX_PARAM_VAL_LENGTH, &p.value)
}

pub fn tag(t: &KeyValue) -> Result<()> {
    valid_name("tag", &t.key)?;
    length("Tag key", MAX_ENTITY_KEY_LENGTH, &t.key)?;
    length("Tag value", MAX_TAG_VAL_LENGTH, &t.value)
}

pub fn experiment_tag(t: &KeyValue) -> Result<()> {
    valid_name("tag", &t.key)?;
    length("Tag key", MAX_ENTITY_KEY_LENGTH, &t.key)?;
    length("Tag value", MAX_EXPERIMENT_TAG_VAL_LENGTH, &t.value)
}

pub fn experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid(format!("Invalid experiment name: '{name}'")));
    }
    length("Experiment name", MAX_EXPERIMENT_NAME_LENGTH, name)
}

pub fn unique_param_keys(params: &[KeyValue]) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    let mut dupes = Vec::new();
    for p in params {
        if let Some(old) = seen.insert(p.key.as_str(), p.value.as_str()) {
            if old != p.value {
                dupes.push(p.key.clone());
            }
        }
    }
    if dupes.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "Duplicate parameter keys have been submitted: {dupes:?}. Please ensure the request contains only one param value per param key."
        )))
    }
}

pub fn batch_limits(metrics: usize, params: usize, tags: usize) -> Result<()> {
    let check = |name: &str, limit: usize, count: usize| {
        if count > limit {
            Err(Error::invalid(format!(
                "A batch logging request can contain at most {limit} {name}. Got {count} {name}. Please split up {name} across multiple requests and try again."
            )))
        } else {
            Ok(())
        }
    };
    check("metrics", MAX_METRICS_PER_BATCH, metrics)?;
    check("params", MAX_PARAMS_TAGS_PER_BATCH, params)?;
    check("tags", MAX_PARAMS_TAGS_PER_BATCH, tags)?;
    check(
        "metrics, params, and tags",
        MAX_ENTITIES_PER_BATCH,
        metrics + params + tags,
    )
}

pub fn max_results(n: i64, threshold: i64) -> Result<i64> {
    if n < 1 || n > threshold {
        return Err(Error::invalid(format!(
            "Invalid value {n} for parameter 'max_results' supplied:  Hint: Value was of type 'int'. See the API docs for more information about request parameters."
        )));
    }
    Ok(n)
}

pub fn dataset_input(d: &DatasetInput) -> Result<()> {
    let ds = &d.dataset;
    if ds.name.is_empty() || ds.digest.is_empty() || ds.source_type.is_empty() {
        return Err(Error::invalid(
            "Dataset name, digest and source_type are required",
        ));
    }
    length("Dataset name", MAX_DATASET_NAME_SIZE, &ds.name)?;
    length("Dataset digest", MAX_DATASET_DIGEST_SIZE, &ds.digest)?;
    length("Dataset source", MAX_DATASET_SOURCE_SIZE, &ds.source)?;
    if let Some(s) = &ds.schema {
        if s.len() > MAX_DATASET_SCHEMA_SIZE {
            return Err(Error::invalid("Dataset schema exceeds the maximum length"));
        }
    }
    if let Some(p) = &ds.profile {
        if p.len() > MAX_DATASET_PROFILE_SIZE {
            return Err(Error::invalid("Dataset profile exceeds the maximum length"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("metric", "accuracy").is_ok());
        assert!(valid_name("metric", "train/loss: step 1").is_ok());
        assert!(valid_name("metric", "a/../b").is_err());
        assert!(valid_name("metric", "/abs").is_err());
        assert!(valid_name("metric", "..").is_err());
        assert!(valid_name("metric", "a//b").is_err());
        assert!(valid_name("metric", "bad$name").is_err());
        assert!(valid_name("metric", "").is_err());
    }

    #[test]
    fn limits() {
        assert!(param(&KeyValue::new("p", "x".repeat(6000))).is_ok());
        assert!(param(&KeyValue::new("p", "x".repeat(6001))).is_err());
        assert!(batch_limits(1000, 0, 0).is_ok());
        assert!(batch_limits(1001, 0, 0).is_err());
        assert!(batch_limits(0, 101, 0).is_err());
        assert!(batch_limits(950, 50, 1).is_err());
        assert!(max_results(100_000, 50_000).is_err());
        assert!(unique_param_keys(&[KeyValue::new("a", "1"), KeyValue::new("a", "2")]).is_err());
        assert!(unique_param_keys(&[KeyValue::new("a", "1"), KeyValue::new("a", "1")]).is_ok());
    }
}
