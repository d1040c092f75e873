//! Group commit for run data: every `log-batch` / `log-metric` / `log-parameter` / `set-tag`
//! goes through one writer task, which takes whatever requests are waiting and writes them in
//! one transaction with multi-row statements.
//!
//! Under load, N concurrent requests cost one BEGIN, one run check, one INSERT per table and one
//! COMMIT instead of N of each; alone, a request costs what it did before. Each request is
//! checked on its own (run exists and is active, params unchanged) before anything of it is
//! written, so one bad request fails alone. If the group's transaction fails for a database
//! reason, every request is retried in a transaction of its own.

use std::collections::HashMap;

use sqlx::{Any, AnyPool, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::builder::{Arg, Sql};
use super::Dialect;
use crate::error::{Error, Result};
use crate::types::{KeyValue, NewMetric};

/// Most requests written in one transaction.
const MAX_GROUP: usize = 256;
/// Rows per multi-row INSERT (keeps argument counts far below both engines' limits).
const INSERT_CHUNK: usize = 200;
/// Requests that may wait for the writer.
const QUEUE: usize = 4096;

/// Writes to one run, and where to send the outcome.
pub(super) struct Job {
    pub run_id: String,
    pub metrics: Vec<NewMetric>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    pub reply: oneshot::Sender<Result<()>>,
}

/// Start the writer task; the returned sender is how `log_batch` reaches it. The task ends when
/// every sender is dropped.
pub(super) fn spawn(pool: AnyPool, dialect: Dialect) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            write_group(&pool, dialect, jobs).await;
        }
    });
    tx
}

async fn write_group(pool: &AnyPool, dialect: Dialect, jobs: Vec<Job>) {
    match try_group(pool, dialect, &jobs).await {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) if jobs.len() == 1 => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
        Err(_) => {
            // Find the culprit: each request on its own.
            for job in jobs {
                let outcome = match try_group(pool, dialect, std::slice::from_ref(&job)).await {
                    Ok(mut o) => o.pop().unwrap_or(Ok(())),
                    Err(e) => Err(e),
                };
                let _ = job.reply.send(outcome);
            }
        }
    }
}

/// NaN cannot be stored in SQLite (it becomes NULL): store 0 with a flag, as MLflow does.
pub(super) fn storable(v: f64) -> (f64, i64) {
    if v.is_nan() {
        (0.0, 1)
    } else {
        (v, 0)
    }
}

/// Write a group in one transaction. The outer error is a database failure of the whole group;
/// the inner results are each request's own outcome (run missing, param changed, ...).
async fn try_group(pool: &AnyPool, dialect: Dialect, jobs: &[Job]) -> Result<Vec<Result<()>>> {
    let mut tx = pool.begin().await?;
    let mut ids: Vec<String> = jobs.iter().map(|j| j.run_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let mut s = Sql::new(dialect);
    s.push(
        "SELECT run_uuid, lifecycle_stage, experiment_id, start_time FROM runs WHERE run_uuid IN ",
    )
    .str_list(&ids);
    let found: HashMap<String, (String, RunScope)> = s
        .query()
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                (r.try_get(1)?, (r.try_get(2)?, r.try_get(3)?)),
            ))
        })
        .collect::<Result<_>>()?;

    let mut outcomes = Vec::with_capacity(jobs.len());
    // Params accepted so far in this group, so two requests cannot set different values.
    let mut group_params: HashMap<(&str, &str), &str> = HashMap::new();
    let mut params: Vec<(&str, RunScope, &KeyValue)> = Vec::new();
    let mut tags: Vec<(&str, &KeyValue)> = Vec::new();
    let mut metrics: Vec<(&str, &NewMetric)> = Vec::new();
    for job in jobs {
        let run = job.run_id.as_str();
        let scope = match found.get(run) {
            Some((stage, scope)) if stage == "active" => *scope,
            Some((stage, _)) => {
                outcomes.push(Err(Error::invalid(format!(
                    "The run {run} must be in the 'active' state. Current state is {stage}."
                ))));
                continue;
            }
            None => {
                outcomes.push(Err(Error::not_found(format!(
                    "Run with id={run} not found"
                ))));
                continue;
            }
        };
        match check_params(&mut tx, dialect, run, &job.params, &group_params).await? {
            Err(e) => {
                outcomes.push(Err(e));
                continue;
            }
            Ok(fresh) => {
                for p in fresh {
                    group_params.insert((run, p.key.as_str()), p.value.as_str());
                    params.push((run, scope, p));
                }
            }
        }
        tags.extend(job.tags.iter().map(|t| (run, t)));
        metrics.extend(job.metrics.iter().map(|m| (run, m)));
        outcomes.push(Ok(()));
    }
    insert_params(&mut tx, dialect, &params).await?;
    upsert_tags(&mut tx, dialect, &tags).await?;
    insert_metrics(&mut tx, dialect, &metrics).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Params are immutable: the ones not stored yet, or the error naming the one that changed.
async fn check_params<'a>(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    run: &str,
    params: &'a [KeyValue],
    group: &HashMap<(&str, &str), &str>,
) -> Result<Result<Vec<&'a KeyValue>>> {
    if params.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let keys: Vec<String> = params.iter().map(|p| p.key.clone()).collect();
    let mut s = Sql::new(dialect);
    s.push("SELECT key, value FROM params WHERE run_uuid = ")
        .str(run)
        .push(" AND key IN ")
        .str_list(&keys);
    let stored: HashMap<String, String> = s
        .query()
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    let mut fresh = Vec::new();
    for p in params {
        let old = stored
            .get(&p.key)
            .map(String::as_str)
            .or_else(|| group.get(&(run, p.key.as_str())).copied());
        match old {
            Some(old) if old != p.value => {
                return Ok(Err(Error::invalid(format!(
                    "Changing param values is not allowed. Param with key='{}' was already logged with value='{}' for run ID='{}'. Attempted logging new value '{}'.",
                    p.key, old, run, p.value
                ))))
            }
            Some(_) => {}
            None if fresh.iter().any(|f: &&KeyValue| f.key == p.key) => {}
            None => fresh.push(p),
        }
    }
    Ok(Ok(fresh))
}

/// A run's experiment and start time, stored with each of its params (migration 7's walk).
type RunScope = (i64, i64);

async fn insert_params(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    rows: &[(&str, RunScope, &KeyValue)],
) -> Result<()> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut s = Sql::new(dialect);
        s.push("INSERT INTO params (run_uuid, key, value, experiment_id, start_time) VALUES ");
        for (i, (run, (experiment_id, start_time), p)) in chunk.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.push("(")
                .str(run)
                .push(", ")
                .str(&p.key)
                .push(", ")
                .str(&p.value)
                .push(", ")
                .i64(*experiment_id)
                .push(", ")
                .i64(*start_time)
                .push(")");
        }
        s.push(" ON CONFLICT (run_uuid, key) DO NOTHING");
        s.query().execute(&mut **tx).await?;
    }
    Ok(())
}

pub(super) async fn upsert_tags(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    rows: &[(&str, &KeyValue)],
) -> Result<()> {
    // The last value for a (run, key) wins; one row per key keeps an upsert legal.
    let mut last: HashMap<(&str, &str), &str> = HashMap::new();
    let mut order: Vec<(&str, &str)> = Vec::new();
    for (run, t) in rows {
        if last
            .insert((run, t.key.as_str()), t.value.as_str())
            .is_none()
        {
            order.push((run, t.key.as_str()));
        }
    }
    for chunk in order.chunks(INSERT_CHUNK) {
        let mut s = Sql::new(dialect);
        s.push("INSERT INTO tags (run_uuid, key, value) VALUES ");
        for (i, k) in chunk.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.push("(")
                .str(k.0)
                .push(", ")
                .str(k.1)
                .push(", ")
                .str(last[k])
                .push(")");
        }
        s.push(" ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value");
        s.query().execute(&mut **tx).await?;
    }
    // The run name lives in two places; keep them in step, as MLflow does.
    for (run, key) in &order {
        if *key == crate::types::RUN_NAME_TAG {
            sqlx::query("UPDATE runs SET name = $1 WHERE run_uuid = $2")
                .bind(last[&(*run, *key)].to_owned())
                .bind(run.to_string())
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

fn opt(v: &Option<String>) -> Arg {
    v.clone().map(Arg::Str).unwrap_or(Arg::NullStr)
}

async fn insert_metrics(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    rows: &[(&str, &NewMetric)],
) -> Result<()> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut s = Sql::new(dialect);
        s.push(
            "INSERT INTO metrics (run_uuid, key, step, timestamp, value, is_nan, model_id, dataset_name, dataset_digest) VALUES ",
        );
        for (i, (run, m)) in chunk.iter().enumerate() {
            let (v, nan) = storable(m.value);
            if i > 0 {
                s.push(", ");
            }
            s.push("(")
                .str(run)
                .push(", ")
                .str(&m.key)
                .push(", ")
                .i64(m.step)
                .push(", ")
                .i64(m.timestamp);
            s.push(", ")
                .arg(Arg::F64(v))
                .push(", ")
                .i64(nan)
                .push(", ")
                .arg(opt(&m.model_id));
            s.push(", ")
                .arg(opt(&m.dataset_name))
                .push(", ")
                .arg(opt(&m.dataset_digest))
                .push(")");
        }
        s.push(" ON CONFLICT DO NOTHING");
        s.query().execute(&mut **tx).await?;
    }
    // Points logged against an MLflow 3 logged model are also filed under that model.
    let linked: Vec<&(&str, &NewMetric)> =
        rows.iter().filter(|(_, m)| m.model_id.is_some()).collect();
    for chunk in linked.chunks(INSERT_CHUNK) {
        let mut s = Sql::new(dialect);
        s.push(
            "INSERT INTO logged_model_metrics (model_id, run_uuid, key, step, timestamp, value, is_nan, dataset_name, dataset_digest) VALUES ",
        );
        for (i, (run, m)) in chunk.iter().enumerate() {
            let (v, nan) = storable(m.value);
            if i > 0 {
                s.push(", ");
            }
            s.push("(")
                .arg(opt(&m.model_id))
                .push(", ")
                .str(run)
                .push(", ")
                .str(&m.key);
            s.push(", ")
                .i64(m.step)
                .push(", ")
                .i64(m.timestamp)
                .push(", ")
                .arg(Arg::F64(v))
                .push(", ")
                .i64(nan);
            s.push(", ")
                .arg(opt(&m.dataset_name))
                .push(", ")
                .arg(opt(&m.dataset_digest))
                .push(")");
        }
        s.push(" ON CONFLICT DO NOTHING");
        s.query().execute(&mut **tx).await?;
    }
    // Latest value per (run, key): the greatest (step, timestamp, value), as MLflow defines it.
    let mut latest: HashMap<(&str, &str), &NewMetric> = HashMap::new();
    for (run, m) in rows {
        let slot = latest.entry((run, m.key.as_str())).or_insert(m);
        if (m.step, m.timestamp, storable(m.value).0)
            > (slot.step, slot.timestamp, storable(slot.value).0)
        {
            *slot = m;
        }
    }
    let latest: Vec<((&str, &str), &NewMetric)> = latest.into_iter().collect();
    for chunk in latest.chunks(INSERT_CHUNK) {
        let mut s = Sql::new(dialect);
        s.push(
            "INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step) VALUES ",
        );
        for (i, ((run, key), m)) in chunk.iter().enumerate() {
            let (v, nan) = storable(m.value);
            if i > 0 {
                s.push(", ");
            }
            s.push("(")
                .str(run)
                .push(", ")
                .str(key)
                .push(", ")
                .arg(Arg::F64(v));
            s.push(", ")
                .i64(nan)
                .push(", ")
                .i64(m.timestamp)
                .push(", ")
                .i64(m.step)
                .push(")");
        }
        s.push(
            " ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, \
             timestamp = excluded.timestamp, step = excluded.step \
             WHERE excluded.step > latest_metrics.step \
                OR (excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp) \
                OR (excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp \
                    AND excluded.value > latest_metrics.value)",
        );
        s.query().execute(&mut **tx).await?;
    }
    Ok(())
}
