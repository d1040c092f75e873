//! `/api/2.0/mlflow/runs/*` and `/metrics/*`.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::json;

use super::{empty, ok, Fields};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::RunUpdate;
use crate::types::*;

fn run_id(f: &Fields) -> Result<String> {
    f.req_str_any(&["run_id", "run_uuid"])
}

/// A metric from a request body, its fields checked in MLflow's order (key, value, timestamp,
/// step) with MLflow's messages.
fn metric(f: &Fields) -> Result<NewMetric> {
    let key = f.req_str("key")?;
    let value = f.f64("value")?.ok_or_else(|| Error::missing("value"))?;
    let timestamp = f
        .i64("timestamp")?
        .ok_or_else(|| Error::missing("timestamp"))?;
    let step = f.i64("step")?;
    Ok(NewMetric {
        key,
        value,
        timestamp,
        step: step.unwrap_or(0),
        model_id: f.str("model_id")?,
        dataset_name: f.str("dataset_name")?,
        dataset_digest: f.str("dataset_digest")?,
    })
}

/// log-batch's presence checks, as MLflow runs them before anything else: every metric's key,
/// value and timestamp, every param's and tag's key, named by their path (`metrics[0].key`).
fn batch_fields_present(f: &Fields) -> Result<()> {
    for (list, required) in [
        ("metrics", &["key", "value", "timestamp"][..]),
        ("params", &["key"][..]),
        ("tags", &["key"][..]),
    ] {
        for (i, item) in f.obj_list(list)?.iter().enumerate() {
            for k in required {
                let present = match item.raw(k) {
                    None => false,
                    Some(serde_json::Value::String(s)) => !s.is_empty(),
                    Some(_) => true,
                };
                if !present {
                    return Err(Error::missing(&format!("{list}[{i}].{k}")));
                }
            }
        }
    }
    Ok(())
}

pub async fn create(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let run = s
        .tracking
        .create_run(
            f.str("experiment_id")?.as_deref(),
            f.str("user_id")?.as_deref(),
            f.str("run_name")?.as_deref(),
            f.i64("start_time")?,
            f.key_values("tags")?,
        )
        .await?;
    ok(json!({ "run": run }))
}

pub async fn get(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let run = s.tracking.get_run(&run_id(&f)?).await?;
    ok(json!({ "run": run }))
}

pub async fn update(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let update = RunUpdate {
        status: f.str("status")?,
        end_time: f.i64("end_time")?,
        run_name: f.str("run_name")?.filter(|n| !n.is_empty()),
    };
    let info = s.tracking.update_run(&run_id(&f)?, update).await?;
    ok(json!({ "run_info": info }))
}

pub async fn delete(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.tracking.delete_run(&run_id(&f)?).await?;
    Ok(empty())
}

pub async fn restore(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.tracking.restore_run(&run_id(&f)?).await?;
    Ok(empty())
}

/// A `{run_id, key, value}` body, checked in MLflow's order.
fn run_key_value(f: &Fields) -> Result<(String, KeyValue)> {
    let run = run_id(f)?;
    let kv = KeyValue::new(f.req_str("key")?, f.str("value")?.unwrap_or_default());
    Ok((run, kv))
}

pub async fn log_parameter(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let (run, p) = run_key_value(&f)?;
    s.tracking.log_batch(&run, vec![], vec![p], vec![]).await?;
    Ok(empty())
}

pub async fn log_metric(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let run = run_id(&f)?;
    let m = metric(&f)?;
    s.tracking.log_batch(&run, vec![m], vec![], vec![]).await?;
    Ok(empty())
}

pub async fn set_tag(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let (run, t) = run_key_value(&f)?;
    s.tracking.log_batch(&run, vec![], vec![], vec![t]).await?;
    Ok(empty())
}

pub async fn delete_tag(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.tracking
        .delete_tag(&run_id(&f)?, &f.req_str("key")?)
        .await?;
    Ok(empty())
}

pub async fn log_batch(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let run_id = run_id(&f)?;
    batch_fields_present(&f)?;
    let metrics = f
        .obj_list("metrics")?
        .iter()
        .map(metric)
        .collect::<Result<Vec<_>>>()?;
    let params = f.key_values("params")?;
    let tags = f.key_values("tags")?;
    s.tracking.log_batch(&run_id, metrics, params, tags).await?;
    Ok(empty())
}

pub async fn log_inputs(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let mut datasets = Vec::new();
    for d in f.obj_list("datasets")? {
        let ds = d.obj("dataset")?.ok_or_else(|| Error::missing("dataset"))?;
        datasets.push(DatasetInput {
            tags: d.key_values("tags")?,
            dataset: Dataset {
                name: ds.req_str("name")?,
                digest: ds.req_str("digest")?,
                source_type: ds.req_str("source_type")?,
                source: ds.str("source")?.unwrap_or_default(),
                schema: ds.str("schema")?,
                profile: ds.str("profile")?,
            },
        });
    }
    let models = f
        .obj_list("models")?
        .iter()
        .map(|m| {
            Ok(ModelInput {
                model_id: m.req_str("model_id")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    s.tracking
        .log_inputs(&run_id(&f)?, datasets, models)
        .await?;
    Ok(empty())
}

pub async fn log_outputs(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let models = f
        .obj_list("models")?
        .iter()
        .map(|m| {
            Ok(ModelOutput {
                model_id: m.req_str("model_id")?,
                step: m.i64("step")?.unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    s.tracking.log_outputs(&run_id(&f)?, models).await?;
    Ok(empty())
}

pub async fn log_model(State(s): State<AppState>, f: Fields) -> Result<Response> {
    s.tracking
        .log_model(&run_id(&f)?, &f.req_str("model_json")?)
        .await?;
    Ok(empty())
}

#[derive(Serialize)]
struct SearchResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    runs: Vec<Run>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

pub async fn search(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let view = ViewType::parse(f.enum_str("run_view_type")?.as_deref())?;
    let page = s
        .tracking
        .search_runs(&f.str_list("experiment_ids")?, view, &f.search_request()?)
        .await?;
    ok(SearchResponse {
        runs: page.items,
        next_page_token: page.next_page_token,
    })
}

#[derive(Serialize)]
struct HistoryResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

pub async fn get_history(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let page = s
        .tracking
        .metric_history(
            &run_id(&f)?,
            &f.req_str("metric_key")?,
            f.i64("max_results")?,
            f.str("page_token")?.as_deref(),
        )
        .await?;
    ok(HistoryResponse {
        metrics: page.items,
        next_page_token: page.next_page_token,
    })
}

/// Most runs one bulk request may name (MLflow's limit).
const MAX_BULK_RUNS: usize = 100;
/// Most points per run bulk-interval history returns, and its default (MLflow's).
const MAX_RESULTS_PER_RUN: i64 = 2500;
/// Most points get-history-bulk returns, and its default (MLflow's).
const MAX_HISTORY_BULK_RESULTS: i64 = 25_000;

/// `GET /ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id=..&metric_key=`: every run's
/// history of one metric, by run id, then timestamp, step and value (the UI's older call).
pub async fn get_history_bulk(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let mut run_ids = f.str_list("run_id")?;
    if run_ids.is_empty() {
        return Err(Error::invalid(
            "GetMetricHistoryBulk request must specify at least one run_id.",
        ));
    }
    if run_ids.len() > MAX_BULK_RUNS {
        return Err(Error::invalid(format!(
            "GetMetricHistoryBulk request cannot specify more than {MAX_BULK_RUNS} run_ids. Received {} run_ids.",
            run_ids.len()
        )));
    }
    let key = f
        .str("metric_key")?
        .ok_or_else(|| Error::invalid("GetMetricHistoryBulk request must specify a metric_key."))?;
    let max = f
        .i64("max_results")?
        .unwrap_or(MAX_HISTORY_BULK_RESULTS)
        .clamp(0, MAX_HISTORY_BULK_RESULTS);
    run_ids.sort();
    run_ids.dedup();
    let metrics = s
        .tracking
        .store
        .metric_history_bulk(&run_ids, &key, max)
        .await?;
    ok(json!({ "metrics": metrics }))
}

/// The run ids of a bulk request, each once (a repeated id would repeat its work).
fn bulk_run_ids(f: &Fields) -> Result<Vec<String>> {
    let mut ids = f.str_list("run_ids")?;
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    if ids.is_empty() {
        return Err(Error::missing("run_ids"));
    }
    if ids.len() > MAX_BULK_RUNS {
        return Err(Error::invalid(format!(
            "GetMetricHistoryBulkInterval request must specify at most {MAX_BULK_RUNS} run_ids. Received {} run_ids.",
            ids.len()
        )));
    }
    Ok(ids)
}

pub async fn get_history_bulk_interval(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let run_ids = bulk_run_ids(&f)?;
    let max = f.i64("max_results")?.unwrap_or(MAX_RESULTS_PER_RUN);
    if !(1..=MAX_RESULTS_PER_RUN).contains(&max) {
        return Err(Error::invalid(format!(
            "max_results must be between 1 and {MAX_RESULTS_PER_RUN}. Received {max}."
        )));
    }
    let (start, end) = (f.i64("start_step")?, f.i64("end_step")?);
    match (start, end) {
        (Some(a), Some(b)) if a > b => {
            return Err(Error::invalid(format!(
                "end_step must be greater than start_step. Found start_step={a} and end_step={b}."
            )))
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::invalid(
                "If either start step or end step are specified, both must be specified.",
            ))
        }
        _ => {}
    }
    let metrics = s
        .tracking
        .store
        .metric_history_bulk_interval(&run_ids, &f.req_str("metric_key")?, start, end, max)
        .await?;
    ok(HistoryResponse {
        metrics,
        next_page_token: None,
    })
}

/// Most points one downsample answer holds, over all its runs.
const MAX_CHART_POINTS: i64 = 200_000;

/// Weir's chart endpoint: min/max-preserving downsampling of whole series.
pub async fn downsample(State(s): State<AppState>, f: Fields) -> Result<Response> {
    let run_ids = bulk_run_ids(&f)?;
    // At most MAX_CHART_POINTS points in one answer, shared by the runs.
    let per_run = (MAX_CHART_POINTS / run_ids.len().max(1) as i64).max(4);
    let max = f
        .i64("max_points")?
        .unwrap_or(1000)
        .clamp(4, 20_000)
        .min(per_run);
    let series = s
        .tracking
        .store
        .metric_downsample(&run_ids, &f.req_str("metric_key")?, max)
        .await?;
    ok(json!({ "series": series }))
}
