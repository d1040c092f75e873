//! SQL for runs: info, params, tags, metrics (history and latest), inputs and outputs, search.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::builder::{SearchTarget, Side, Sql};
use super::experiments::experiment_not_found;
use super::writer;
use super::*;
use crate::search::{fields, Entity};

const RUN_COLUMNS: &str =
    "r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, \
                           r.end_time, r.lifecycle_stage, r.artifact_uri";

pub(super) fn run_info_from_row(r: &AnyRow) -> Result<RunInfo> {
    let id: String = r.try_get(0)?;
    Ok(RunInfo {
        run_uuid: id.clone(),
        experiment_id: r.try_get::<i64, _>(1)?.to_string(),
        run_name: r.try_get(2)?,
        user_id: r.try_get(3)?,
        status: r.try_get(4)?,
        start_time: r.try_get(5)?,
        end_time: r.try_get(6)?,
        lifecycle_stage: r.try_get(7)?,
        artifact_uri: r.try_get(8)?,
        run_id: id,
    })
}

pub(super) fn metric_value(value: f64, is_nan: i64) -> MetricValue {
    MetricValue(if is_nan != 0 { f64::NAN } else { value })
}

/// The rows a hydration query aggregated into one JSON array.
fn parse_rows<T: serde::de::DeserializeOwned>(json: &str) -> Result<Vec<T>> {
    serde_json::from_str(json).map_err(|e| Error::internal("hydrating runs", e))
}

pub(super) fn run_not_found(run_id: &str) -> Error {
    Error::not_found(format!("Run with id={run_id} not found"))
}

/// Runs as searches read them: metrics through `latest_metrics`, datasets through the run's
/// dataset inputs.
pub(super) static TARGET: SearchTarget = SearchTarget {
    table: "runs",
    alias: "r",
    columns: RUN_COLUMNS,
    fields: &fields::RUNS,
    sides: &[
        Side {
            entity: Entity::Metric,
            table: "latest_metrics",
            join: "{j}.run_uuid = r.run_uuid",
            unique: true,
        },
        Side {
            entity: Entity::Param,
            table: "params",
            join: "{j}.run_uuid = r.run_uuid",
            unique: true,
        },
        Side {
            entity: Entity::Tag,
            table: "tags",
            join: "{j}.run_uuid = r.run_uuid",
            unique: true,
        },
        Side {
            entity: Entity::Dataset,
            table: "run_dataset_inputs",
            join: "{j}.run_uuid = r.run_uuid",
            unique: false,
        },
    ],
    ne_includes_missing: false,
    walk_side: Some(Entity::Param),
};

impl SqlStore {
    async fn check_run_active(
        &self,
        tx: &mut Transaction<'static, Any>,
        run_id: &str,
    ) -> Result<()> {
        let row = sqlx::query("SELECT lifecycle_stage FROM runs WHERE run_uuid = $1")
            .bind(run_id)
            .fetch_optional(&mut **tx)
            .await?;
        match row {
            None => Err(run_not_found(run_id)),
            Some(r) => {
                let stage: String = r.try_get(0)?;
                if stage != "active" {
                    Err(Error::invalid(format!(
                        "The run {run_id} must be in the 'active' state. Current state is {stage}."
                    )))
                } else {
                    Ok(())
                }
            }
        }
    }

    async fn hydrate_runs(&self, infos: Vec<RunInfo>) -> Result<Vec<Run>> {
        if infos.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = infos.iter().map(|i| i.run_uuid.clone()).collect();
        let mut runs: Vec<Run> = infos
            .into_iter()
            .map(|info| Run {
                info,
                data: RunData::default(),
                inputs: RunInputs::default(),
                outputs: Some(RunOutputs::default()),
            })
            .collect();
        let index: HashMap<String, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();

        // Each side table in one query answering one row: its rows for these runs as a JSON
        // array, in order. Rows one by one cost a thread hand-off each on SQLite (sqlx reads
        // SQLite on a worker thread), which made hydrating a page of 1,000 runs ~5,000 wake-ups.
        let json_rows = |table: &str, cols: &[&str], order: &str| {
            let (agg, array, fin) = match self.dialect {
                Dialect::Sqlite => ("json_group_array", "json_array", ""),
                Dialect::Postgres => (
                    "CAST(COALESCE(json_agg",
                    "json_build_array",
                    ", '[]') AS TEXT)",
                ),
            };
            let mut s = Sql::new(self.dialect);
            s.push("SELECT ")
                .push(agg)
                .push("(")
                .push(array)
                .push("(")
                .push(&cols.join(", "))
                .push(") ORDER BY ")
                .push(order)
                .push(")")
                .push(fin)
                .push(" FROM ")
                .push(table)
                .push(" WHERE ")
                .push(cols[0])
                .push(" IN ")
                .str_set(&ids);
            s
        };
        // Exact text of a double ("Inf"/"Infinity" included), parsed back below.
        let value_text = match self.dialect {
            Dialect::Sqlite => "printf('%!.17g', value)",
            Dialect::Postgres => "CAST(value AS TEXT)",
        };
        let metrics = json_rows(
            "latest_metrics",
            &["run_uuid", "key", value_text, "is_nan", "timestamp", "step"],
            "run_uuid, key",
        );
        let params = json_rows("params", &["run_uuid", "key", "value"], "run_uuid, key");
        let tags = json_rows("tags", &["run_uuid", "key", "value"], "run_uuid, key");
        let datasets = json_rows(
            "run_dataset_inputs i JOIN runs rr ON rr.run_uuid = i.run_uuid \
             JOIN datasets ds ON ds.experiment_id = rr.experiment_id AND ds.name = i.name AND ds.digest = i.digest",
            &[
                "i.run_uuid",
                "i.tags_json",
                "ds.name",
                "ds.digest",
                "ds.source_type",
                "ds.source",
                "ds.schema",
                "ds.profile",
            ],
            "i.run_uuid, ds.name",
        );
        let model_inputs = json_rows(
            "run_model_inputs",
            &["run_uuid", "model_id"],
            "run_uuid, model_id",
        );
        let outputs = json_rows(
            "run_model_outputs",
            &["run_uuid", "model_id", "step"],
            "run_uuid, model_id",
        );
        let text = |row: AnyRow| -> Result<String> { Ok(row.try_get::<String, _>(0)?) };
        let (m, p, t, d, mi, o) = tokio::try_join!(
            metrics.query().fetch_one(&self.reader),
            params.query().fetch_one(&self.reader),
            tags.query().fetch_one(&self.reader),
            datasets.query().fetch_one(&self.reader),
            model_inputs.query().fetch_one(&self.reader),
            outputs.query().fetch_one(&self.reader),
        )?;
        let slot = |id: &str| -> Result<usize> {
            index
                .get(id)
                .copied()
                .ok_or_else(|| Error::internal("hydrating runs", "unknown run id"))
        };
        for (id, key, value, is_nan, timestamp, step) in
            parse_rows::<(String, String, String, i64, i64, i64)>(&text(m)?)?
        {
            let value: f64 = value.parse().map_err(|_| {
                Error::internal("hydrating runs", "a stored metric is not a number")
            })?;
            runs[slot(&id)?].data.metrics.push(Metric {
                key,
                value: metric_value(value, is_nan),
                timestamp,
                step,
                run_id: None,
            });
        }
        for (id, key, value) in parse_rows::<(String, String, String)>(&text(p)?)? {
            runs[slot(&id)?].data.params.push(KeyValue::new(key, value));
        }
        for (id, key, value) in parse_rows::<(String, String, String)>(&text(t)?)? {
            runs[slot(&id)?].data.tags.push(KeyValue::new(key, value));
        }
        type DatasetRow = (
            String,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        for (id, tags_json, name, digest, source_type, source, schema, profile) in
            parse_rows::<DatasetRow>(&text(d)?)?
        {
            let tags: Vec<(String, String)> = serde_json::from_str(&tags_json).unwrap_or_default();
            runs[slot(&id)?].inputs.dataset_inputs.push(DatasetInput {
                tags: tags.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect(),
                dataset: Dataset {
                    name,
                    digest,
                    source_type,
                    source,
                    schema,
                    profile,
                },
            });
        }
        for (id, model_id) in parse_rows::<(String, String)>(&text(mi)?)? {
            runs[slot(&id)?]
                .inputs
                .model_inputs
                .push(ModelInput { model_id });
        }
        for (id, model_id, step) in parse_rows::<(String, String, i64)>(&text(o)?)? {
            if let Some(out) = runs[slot(&id)?].outputs.as_mut() {
                out.model_outputs.push(ModelOutput { model_id, step });
            }
        }
        Ok(runs)
    }

    async fn run_info(&self, run_id: &str) -> Result<RunInfo> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_uuid = $1");
        let row = sqlx::query(&sql)
            .bind(run_id)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| run_not_found(run_id))?;
        run_info_from_row(&row)
    }

    pub(super) async fn run_exists(&self, run_id: &str) -> Result<()> {
        sqlx::query("SELECT 1 FROM runs WHERE run_uuid = $1")
            .bind(run_id)
            .fetch_optional(&self.reader)
            .await?
            .map(|_| ())
            .ok_or_else(|| run_not_found(run_id))
    }
}

#[async_trait]
impl RunStore for SqlStore {
    async fn create_run(&self, run: NewRun) -> Result<Run> {
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = $1",
        )
        .bind(run.experiment_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| experiment_not_found(run.experiment_id))?;
        let location: String = row.try_get(0)?;
        let stage: String = row.try_get(1)?;
        if stage != "active" {
            return Err(Error::invalid(format!(
                "The experiment {} must be in the 'active' state. Current state is {stage}.",
                run.experiment_id
            )));
        }
        let artifact_uri = format!("{}/{run_id}/artifacts", location.trim_end_matches('/'));
        sqlx::query(
            "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, lifecycle_stage, artifact_uri) \
             VALUES ($1, $2, $3, $4, 'RUNNING', $5, 'active', $6)",
        )
        .bind(run_id.clone())
        .bind(run.experiment_id)
        .bind(run.run_name.clone())
        .bind(run.user_id.clone())
        .bind(run.start_time)
        .bind(artifact_uri.clone())
        .execute(&mut *tx)
        .await?;
        let tags: Vec<(&str, &KeyValue)> = run.tags.iter().map(|t| (run_id.as_str(), t)).collect();
        writer::upsert_tags(&mut tx, self.dialect, &tags).await?;
        tx.commit().await?;
        // Tags come back in the order the client sent them, as MLflow answers.
        let mut tags: Vec<KeyValue> = Vec::new();
        for t in run.tags {
            tags.retain(|x| x.key != t.key);
            tags.push(t);
        }
        Ok(Run {
            info: RunInfo {
                run_uuid: run_id.clone(),
                experiment_id: run.experiment_id.to_string(),
                run_name: run.run_name,
                user_id: run.user_id,
                status: "RUNNING".into(),
                start_time: run.start_time,
                end_time: None,
                artifact_uri,
                lifecycle_stage: "active".into(),
                run_id,
            },
            data: RunData {
                tags,
                ..Default::default()
            },
            inputs: RunInputs::default(),
            outputs: None,
        })
    }

    async fn get_run(&self, run_id: &str) -> Result<Run> {
        let info = self.run_info(run_id).await?;
        self.hydrate_runs(vec![info])
            .await?
            .pop()
            .ok_or_else(|| run_not_found(run_id))
    }

    async fn update_run(&self, run_id: &str, u: RunUpdate) -> Result<RunInfo> {
        let mut tx = self.writer.begin().await?;
        self.check_run_active(&mut tx, run_id).await?;
        let mut s = Sql::new(self.dialect);
        s.push("UPDATE runs SET run_uuid = run_uuid");
        if let Some(st) = &u.status {
            s.push(", status = ").str(st);
        }
        if let Some(t) = u.end_time {
            s.push(", end_time = ").i64(t);
        }
        if let Some(n) = &u.run_name {
            s.push(", name = ").str(n);
        }
        s.push(" WHERE run_uuid = ").str(run_id);
        s.query().execute(&mut *tx).await?;
        if let Some(n) = &u.run_name {
            let tag = KeyValue::new(crate::types::RUN_NAME_TAG, n.clone());
            writer::upsert_tags(&mut tx, self.dialect, &[(run_id, &tag)]).await?;
        }
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_uuid = $1");
        let row = sqlx::query(&sql).bind(run_id).fetch_one(&mut *tx).await?;
        let info = run_info_from_row(&row)?;
        tx.commit().await?;
        Ok(info)
    }

    async fn set_run_lifecycle(&self, run_id: &str, stage: &str) -> Result<()> {
        let deleted_time = if stage == "deleted" {
            Some(now_ms())
        } else {
            None
        };
        let r = sqlx::query(
            "UPDATE runs SET lifecycle_stage = $1, deleted_time = $2 WHERE run_uuid = $3",
        )
        .bind(stage)
        .bind(deleted_time)
        .bind(run_id)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 0 {
            return Err(run_not_found(run_id));
        }
        Ok(())
    }

    async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[NewMetric],
        params: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<()> {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let job = writer::Job {
            run_id: run_id.to_owned(),
            metrics: metrics.to_vec(),
            params: params.to_vec(),
            tags: tags.to_vec(),
            reply,
        };
        let gone = || Error::unavailable("The store is shutting down");
        self.batcher.send(job).await.map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }

    async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.check_run_active(&mut tx, run_id).await?;
        let r = sqlx::query("DELETE FROM tags WHERE run_uuid = $1 AND key = $2")
            .bind(run_id)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "No tag with name: {key} in run with id {run_id}"
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_tag(&self, run_id: &str, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query("SELECT value FROM tags WHERE run_uuid = $1 AND key = $2")
                .bind(run_id)
                .bind(key)
                .fetch_optional(&self.reader)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?,
        )
    }

    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.check_run_active(&mut tx, run_id).await?;
        let exp: i64 = sqlx::query("SELECT experiment_id FROM runs WHERE run_uuid = $1")
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        for d in datasets {
            let ds = &d.dataset;
            sqlx::query(
                "INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, profile) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (experiment_id, name, digest) DO NOTHING",
            )
            .bind(exp)
            .bind(ds.name.clone())
            .bind(ds.digest.clone())
            .bind(ds.source_type.clone())
            .bind(ds.source.clone())
            .bind(ds.schema.clone())
            .bind(ds.profile.clone())
            .execute(&mut *tx)
            .await?;
            let context = d
                .tags
                .iter()
                .find(|t| t.key == "mlflow.data.context")
                .map(|t| t.value.clone());
            let tags: Vec<(&str, &str)> = d
                .tags
                .iter()
                .map(|t| (t.key.as_str(), t.value.as_str()))
                .collect();
            let tags_json = serde_json::to_string(&tags)
                .map_err(|e| Error::internal("encoding input tags", e))?;
            sqlx::query(
                "INSERT INTO run_dataset_inputs (run_uuid, name, digest, context, tags_json) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (run_uuid, name, digest) DO NOTHING",
            )
            .bind(run_id)
            .bind(ds.name.clone())
            .bind(ds.digest.clone())
            .bind(context)
            .bind(tags_json)
            .execute(&mut *tx)
            .await?;
        }
        for m in models {
            sqlx::query("INSERT INTO run_model_inputs (run_uuid, model_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(run_id)
                .bind(m.model_id.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn log_outputs(&self, run_id: &str, models: &[ModelOutput]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.check_run_active(&mut tx, run_id).await?;
        for m in models {
            sqlx::query(
                "INSERT INTO run_model_outputs (run_uuid, model_id, step) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_uuid, model_id) DO UPDATE SET step = excluded.step",
            )
            .bind(run_id)
            .bind(m.model_id.clone())
            .bind(m.step)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn search_runs(&self, q: &RunSearch) -> Result<Page<Run>> {
        if q.experiment_ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_page_token: None,
            });
        }
        let (infos, next_page_token) = self.search_run_page(q).await?;
        Ok(Page {
            items: self.hydrate_runs(infos).await?,
            next_page_token,
        })
    }
}
