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

        let fetch = |table: &str, cols: &str, order: &str| {
            let mut s = Sql::new(self.dialect);
            s.push("SELECT run_uuid, ")
                .push(cols)
                .push(" FROM ")
                .push(table)
                .push(" WHERE run_uuid IN ")
                .str_list(&ids)
                .push(" ORDER BY run_uuid, ")
                .push(order);
            s
        };
        let metrics = fetch(
            "latest_metrics",
            "key, value, is_nan, timestamp, step",
            "key",
        );
        let params = fetch("params", "key, value", "key");
        let tags = fetch("tags", "key, value", "key");
        let datasets = fetch(
            "run_dataset_inputs i JOIN runs rr ON rr.run_uuid = i.run_uuid \
             JOIN datasets ds ON ds.experiment_id = rr.experiment_id AND ds.name = i.name AND ds.digest = i.digest",
            "i.tags_json, ds.name, ds.digest, ds.source_type, ds.source, ds.schema, ds.profile",
            "ds.name",
        );
        // The join makes `run_uuid` ambiguous; qualify it.
        let datasets_text = datasets
            .text
            .replacen("SELECT run_uuid", "SELECT i.run_uuid", 1)
            .replacen("WHERE run_uuid IN", "WHERE i.run_uuid IN", 1)
            .replacen("ORDER BY run_uuid", "ORDER BY i.run_uuid", 1);
        let model_inputs = fetch("run_model_inputs", "model_id", "model_id");
        let outputs = fetch("run_model_outputs", "model_id, step", "model_id");

        let (m, p, t, d, mi, o) = tokio::try_join!(
            metrics.query().fetch_all(&self.reader),
            params.query().fetch_all(&self.reader),
            tags.query().fetch_all(&self.reader),
            sqlx::query_with(&datasets_text, datasets.arguments()).fetch_all(&self.reader),
            model_inputs.query().fetch_all(&self.reader),
            outputs.query().fetch_all(&self.reader),
        )?;
        let slot = |r: &AnyRow| -> Result<usize> {
            let id: String = r.try_get(0)?;
            index
                .get(&id)
                .copied()
                .ok_or_else(|| Error::internal("hydrating runs", "unknown run id"))
        };
        for r in &m {
            let i = slot(r)?;
            runs[i].data.metrics.push(Metric {
                key: r.try_get(1)?,
                value: metric_value(r.try_get(2)?, r.try_get(3)?),
                timestamp: r.try_get(4)?,
                step: r.try_get(5)?,
                run_id: None,
            });
        }
        for r in &p {
            let i = slot(r)?;
            runs[i].data.params.push(KeyValue::new(
                r.try_get::<String, _>(1)?,
                r.try_get::<String, _>(2)?,
            ));
        }
        for r in &t {
            let i = slot(r)?;
            runs[i].data.tags.push(KeyValue::new(
                r.try_get::<String, _>(1)?,
                r.try_get::<String, _>(2)?,
            ));
        }
        for r in &d {
            let i = slot(r)?;
            let tags_json: String = r.try_get(1)?;
            let tags: Vec<(String, String)> = serde_json::from_str(&tags_json).unwrap_or_default();
            runs[i].inputs.dataset_inputs.push(DatasetInput {
                tags: tags.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect(),
                dataset: Dataset {
                    name: r.try_get(2)?,
                    digest: r.try_get(3)?,
                    source_type: r.try_get(4)?,
                    source: r.try_get(5)?,
                    schema: r.try_get(6)?,
                    profile: r.try_get(7)?,
                },
            });
        }
        for r in &mi {
            let i = slot(r)?;
            runs[i].inputs.model_inputs.push(ModelInput {
                model_id: r.try_get(1)?,
            });
        }
        for r in &o {
            let i = slot(r)?;
            if let Some(out) = runs[i].outputs.as_mut() {
                out.model_outputs.push(ModelOutput {
                    model_id: r.try_get(1)?,
                    step: r.try_get(2)?,
                });
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
