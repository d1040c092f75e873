//! SQL for MLflow 3 logged models: info, tags, params, metrics, search.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::builder::{upsert_tags, Arg, Search, SearchTarget, Side, Sql, TagOwner};
use super::*;
use crate::search::{fields, Entity};

fn logged_model_not_found(id: &str) -> Error {
    Error::not_found(format!("Logged model with ID '{id}' not found."))
}

const LM_COLUMNS: &str =
    "lm.model_id, lm.experiment_id, lm.name, lm.artifact_location, lm.creation_timestamp_ms, \
     lm.last_updated_timestamp_ms, lm.status, lm.status_message, lm.model_type, lm.source_run_id";

fn lm_from_row(r: &AnyRow) -> Result<LoggedModel> {
    Ok(LoggedModel {
        info: LoggedModelInfo {
            model_id: r.try_get(0)?,
            experiment_id: r.try_get::<i64, _>(1)?.to_string(),
            name: r.try_get(2)?,
            artifact_uri: r.try_get(3)?,
            creation_timestamp_ms: r.try_get(4)?,
            last_updated_timestamp_ms: r.try_get(5)?,
            status: r.try_get(6)?,
            status_message: r.try_get(7)?,
            model_type: r.try_get::<Option<String>, _>(8)?.unwrap_or_default(),
            source_run_id: r.try_get::<Option<String>, _>(9)?.unwrap_or_default(),
            tags: Vec::new(),
        },
        data: LoggedModelData::default(),
    })
}

/// Logged models as searches read them (a metric has many rows: ordering takes the newest).
static TARGET: SearchTarget = SearchTarget {
    table: "logged_models",
    alias: "lm",
    columns: LM_COLUMNS,
    fields: &fields::LOGGED_MODELS,
    sides: &[
        Side {
            entity: Entity::Metric,
            table: "logged_model_metrics",
            join: "{j}.model_id = lm.model_id",
            unique: false,
        },
        Side {
            entity: Entity::Param,
            table: "logged_model_params",
            join: "{j}.model_id = lm.model_id",
            unique: true,
        },
        Side {
            entity: Entity::Tag,
            table: "logged_model_tags",
            join: "{j}.model_id = lm.model_id",
            unique: true,
        },
    ],
    ne_includes_missing: false,
    walk_side: None,
};

impl SqlStore {
    /// The key/value rows of `table` for these models, as (model index, pair), in key order.
    async fn model_kv(
        &self,
        table: &str,
        ids: &[String],
        index: &HashMap<String, usize>,
    ) -> Result<Vec<(usize, KeyValue)>> {
        let mut s = Sql::new(self.dialect);
        s.push("SELECT model_id, key, value FROM ")
            .push(table)
            .push(" WHERE model_id IN ")
            .str_list(ids)
            .push(" ORDER BY model_id, key");
        let mut out = Vec::new();
        for r in s.query().fetch_all(&self.reader).await? {
            if let Some(&i) = index.get(&r.try_get::<String, _>(0)?) {
                out.push((
                    i,
                    KeyValue::new(r.try_get::<String, _>(1)?, r.try_get::<String, _>(2)?),
                ));
            }
        }
        Ok(out)
    }

    async fn hydrate_logged_models(
        &self,
        mut models: Vec<LoggedModel>,
    ) -> Result<Vec<LoggedModel>> {
        if models.is_empty() {
            return Ok(models);
        }
        let ids: Vec<String> = models.iter().map(|m| m.info.model_id.clone()).collect();
        let index: HashMap<String, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        for (i, kv) in self.model_kv("logged_model_tags", &ids, &index).await? {
            models[i].info.tags.push(kv);
        }
        for (i, kv) in self.model_kv("logged_model_params", &ids, &index).await? {
            models[i].data.params.push(kv);
        }
        let mut s = Sql::new(self.dialect);
        s.push(
            "SELECT model_id, key, value, is_nan, timestamp, step, dataset_name, dataset_digest, run_uuid \
             FROM logged_model_metrics WHERE model_id IN ",
        )
        .str_list(&ids)
        .push(" ORDER BY model_id, key, step, timestamp");
        for r in s.query().fetch_all(&self.reader).await? {
            let id: String = r.try_get(0)?;
            if let Some(&i) = index.get(&id) {
                let value: f64 = r.try_get(2)?;
                let nan: i64 = r.try_get(3)?;
                models[i].data.metrics.push(LoggedModelMetric {
                    key: r.try_get(1)?,
                    value: MetricValue(if nan != 0 { f64::NAN } else { value }),
                    timestamp: r.try_get(4)?,
                    step: r.try_get(5)?,
                    dataset_name: r.try_get(6)?,
                    dataset_digest: r.try_get(7)?,
                    model_id: id,
                    run_id: r.try_get(8)?,
                });
            }
        }
        Ok(models)
    }

    /// Insert or overwrite a model's params or tags (`table` is `logged_model_params` or
    /// `logged_model_tags`).
    async fn upsert_model_kv(
        &self,
        tx: &mut Transaction<'static, Any>,
        table: &'static str,
        model_id: &str,
        items: &[KeyValue],
    ) -> Result<()> {
        let owner = TagOwner {
            table,
            columns: &["model_id"],
            values: vec![Arg::Str(model_id.to_owned())],
        };
        upsert_tags(tx, self.dialect, &owner, items).await
    }

    async fn logged_model_active(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
    ) -> Result<()> {
        sqlx::query(
            "SELECT 1 FROM logged_models WHERE model_id = $1 AND lifecycle_stage = 'active'",
        )
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|_| ())
        .ok_or_else(|| logged_model_not_found(id))
    }
}

#[async_trait]
impl LoggedModelStore for SqlStore {
    async fn create_logged_model(&self, m: NewLoggedModel) -> Result<LoggedModel> {
        let now = now_ms();
        let model_id = format!("m-{}", uuid::Uuid::new_v4().simple());
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = $1",
        )
        .bind(m.experiment_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!("No Experiment with id={} exists", m.experiment_id))
        })?;
        let location: String = row.try_get(0)?;
        if row.try_get::<String, _>(1)? != "active" {
            return Err(Error::invalid(format!(
                "The experiment {} must be in the 'active' state.",
                m.experiment_id
            )));
        }
        let artifact_location = format!(
            "{}/models/{model_id}/artifacts",
            location.trim_end_matches('/')
        );
        sqlx::query(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp_ms, \
             last_updated_timestamp_ms, status, model_type, source_run_id) \
             VALUES ($1, $2, $3, $4, $5, $5, 'LOGGED_MODEL_PENDING', $6, $7)",
        )
        .bind(model_id.clone())
        .bind(m.experiment_id)
        .bind(m.name.clone())
        .bind(artifact_location)
        .bind(now)
        .bind(m.model_type.clone())
        .bind(m.source_run_id.clone())
        .execute(&mut *tx)
        .await?;
        self.upsert_model_kv(&mut tx, "logged_model_params", &model_id, &m.params)
            .await?;
        self.upsert_model_kv(&mut tx, "logged_model_tags", &model_id, &m.tags)
            .await?;
        tx.commit().await?;
        self.get_logged_model(&model_id).await
    }

    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let sql = format!("SELECT {LM_COLUMNS} FROM logged_models lm WHERE lm.model_id = $1 AND lm.lifecycle_stage = 'active'");
        let row = sqlx::query(&sql)
            .bind(model_id)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| logged_model_not_found(model_id))?;
        self.hydrate_logged_models(vec![lm_from_row(&row)?])
            .await?
            .pop()
            .ok_or_else(|| logged_model_not_found(model_id))
    }

    async fn finalize_logged_model(&self, model_id: &str, status: &str) -> Result<LoggedModel> {
        let r = sqlx::query(
            "UPDATE logged_models SET status = $1, last_updated_timestamp_ms = $2 WHERE model_id = $3 AND lifecycle_stage = 'active'",
        )
        .bind(status)
        .bind(now_ms())
        .bind(model_id)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 0 {
            return Err(logged_model_not_found(model_id));
        }
        self.get_logged_model(model_id).await
    }

    async fn set_logged_model_tags(&self, model_id: &str, tags: &[KeyValue]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.logged_model_active(&mut tx, model_id).await?;
        self.upsert_model_kv(&mut tx, "logged_model_tags", model_id, tags)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.logged_model_active(&mut tx, model_id).await?;
        let deleted = sqlx::query("DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2")
            .bind(model_id)
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found(format!(
                "No tag with key '{key}' found for model with ID '{model_id}'."
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn log_logged_model_params(&self, model_id: &str, params: &[KeyValue]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.logged_model_active(&mut tx, model_id).await?;
        self.upsert_model_kv(&mut tx, "logged_model_params", model_id, params)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        let r = sqlx::query(
            "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_timestamp_ms = $1 \
             WHERE model_id = $2 AND lifecycle_stage = 'active'",
        )
        .bind(now_ms())
        .bind(model_id)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 0 {
            return Err(logged_model_not_found(model_id));
        }
        Ok(())
    }

    async fn search_logged_models(&self, q: &LoggedModelSearch) -> Result<Page<LoggedModel>> {
        let mut tie_break = Vec::new();
        if q.order_by.is_empty() {
            tie_break.push("lm.creation_timestamp_ms DESC".into());
        }
        tie_break.push("lm.model_id ASC".into());
        let on_datasets = |s: &mut Sql| datasets_condition(s, &q.datasets);
        let metric_filtered = q.filter.as_ref().is_some_and(|f| {
            f.comparisons()
                .iter()
                .any(|c| c.entity == crate::search::Entity::Metric)
        });
        let s = Sql::search(
            self.dialect,
            &Search {
                target: &TARGET,
                scope: &|s: &mut Sql| {
                    s.push("lm.lifecycle_stage = 'active'");
                    if !q.experiment_ids.is_empty() {
                        s.push(" AND lm.experiment_id IN ")
                            .i64_list(&q.experiment_ids);
                    }
                    s.visible("lm.experiment_id", &q.visible, true);
                    // Without a metric filter to carry them, datasets keep the models with any
                    // metric on one of them.
                    if !q.datasets.is_empty() && !metric_filtered {
                        s.push(
                            " AND EXISTS (SELECT 1 FROM logged_model_metrics kv \
                             WHERE kv.model_id = lm.model_id AND ",
                        );
                        on_datasets(s);
                        s.push(")");
                    }
                },
                filter: q.filter.as_ref(),
                order_by: &q.order_by,
                tie_break,
                max_results: q.max_results,
                offset: q.offset,
                metric_scope: if q.datasets.is_empty() {
                    None
                } else {
                    Some(&on_datasets)
                },
                segment: None,
                drive: None,
                walk: None,
            },
        )?;
        let rows = s.query().fetch_all(&self.reader).await?;
        let models: Vec<LoggedModel> = rows.iter().map(lm_from_row).collect::<Result<_>>()?;
        let p = page(models, q.max_results, q.offset);
        Ok(Page {
            items: self.hydrate_logged_models(p.items).await?,
            next_page_token: p.next_page_token,
        })
    }
}

/// `(kv.dataset_name = .. [AND kv.dataset_digest = ..]) OR ...` over a metric row `kv`.
fn datasets_condition(s: &mut Sql, datasets: &[DatasetFilter]) {
    s.push("(");
    for (i, d) in datasets.iter().enumerate() {
        if i > 0 {
            s.push(" OR ");
        }
        s.push("(kv.dataset_name = ").str(&d.name);
        if let Some(digest) = &d.digest {
            s.push(" AND kv.dataset_digest = ").str(digest);
        }
        s.push(")");
    }
    s.push(")");
}
