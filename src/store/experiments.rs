//! SQL for experiments and their tags.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::builder::{upsert_tags, Arg, Search, SearchTarget, Side, Sql, TagOwner};
use super::*;
use crate::search::{fields, Entity};

const EXPERIMENT_COLUMNS: &str =
    "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time";

fn experiment_from_row(r: &AnyRow) -> Result<Experiment> {
    Ok(Experiment {
        experiment_id: r.try_get::<i64, _>(0)?.to_string(),
        name: r.try_get(1)?,
        artifact_location: r.try_get(2)?,
        lifecycle_stage: r.try_get(3)?,
        creation_time: r.try_get(4)?,
        last_update_time: r.try_get(5)?,
        tags: Vec::new(),
        workspace: "default",
    })
}

pub(super) fn experiment_not_found(id: i64) -> Error {
    Error::not_found(format!("No Experiment with id={id} exists"))
}

/// Where an experiment's tags are.
fn experiment_tags(id: i64) -> TagOwner {
    TagOwner {
        table: "experiment_tags",
        columns: &["experiment_id"],
        values: vec![Arg::I64(id)],
    }
}

/// Experiments as searches read them.
pub(super) static TARGET: SearchTarget = SearchTarget {
    table: "experiments",
    alias: "e",
    columns: EXPERIMENT_COLUMNS,
    fields: &fields::EXPERIMENTS,
    sides: &[Side {
        entity: Entity::Tag,
        table: "experiment_tags",
        join: "{j}.experiment_id = e.experiment_id",
        unique: true,
    }],
    ne_includes_missing: false,
    walk_side: None,
};

impl SqlStore {
    /// The experiment's lifecycle stage, read inside `tx`; not found is an error.
    async fn experiment_stage(tx: &mut Transaction<'static, Any>, id: i64) -> Result<String> {
        sqlx::query("SELECT lifecycle_stage FROM experiments WHERE experiment_id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| experiment_not_found(id))?
            .try_get(0)
            .map_err(Into::into)
    }

    async fn experiment_tags(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<KeyValue>>> {
        let mut out: HashMap<i64, Vec<KeyValue>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut s = Sql::new(self.dialect);
        s.push("SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN ")
            .i64_list(ids)
            .push(" ORDER BY experiment_id, key");
        for r in s.query().fetch_all(&self.reader).await? {
            out.entry(r.try_get(0)?).or_default().push(KeyValue::new(
                r.try_get::<String, _>(1)?,
                r.try_get::<String, _>(2)?,
            ));
        }
        Ok(out)
    }

    async fn one_experiment(&self, where_sql: Sql) -> Result<Option<Experiment>> {
        let Some(row) = where_sql.query().fetch_optional(&self.reader).await? else {
            return Ok(None);
        };
        let mut e = experiment_from_row(&row)?;
        let id: i64 = row.try_get(0)?;
        e.tags = self
            .experiment_tags(&[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        Ok(Some(e))
    }
}

#[async_trait]
impl ExperimentStore for SqlStore {
    async fn create_experiment(
        &self,
        name: &str,
        location: ArtifactLocation,
        tags: &[KeyValue],
    ) -> Result<String> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        let initial = match &location {
            ArtifactLocation::Given(l) => l.clone(),
            ArtifactLocation::UnderRoot(_) => String::new(),
        };
        let row = sqlx::query(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES ($1, $2, 'active', $3, $3) RETURNING experiment_id",
        )
        .bind(name)
        .bind(initial)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, || format!("Experiment(name={name}) already exists.")))?;
        let id: i64 = row.try_get(0)?;
        if let ArtifactLocation::UnderRoot(root) = &location {
            sqlx::query("UPDATE experiments SET artifact_location = $1 WHERE experiment_id = $2")
                .bind(format!("{}/{id}", root.trim_end_matches('/')))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        upsert_tags(&mut tx, self.dialect, &experiment_tags(id), tags).await?;
        tx.commit().await?;
        Ok(id.to_string())
    }

    async fn ensure_default_experiment(&self, location: ArtifactLocation) -> Result<()> {
        let loc = match location {
            ArtifactLocation::Given(l) => l,
            ArtifactLocation::UnderRoot(root) => format!("{}/0", root.trim_end_matches('/')),
        };
        let now = now_ms();
        sqlx::query(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (0, 'Default', $1, 'active', $2, $2) ON CONFLICT DO NOTHING",
        )
        .bind(loc)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_experiment(&self, id: i64) -> Result<Experiment> {
        let mut s = Sql::new(self.dialect);
        s.push("SELECT ")
            .push(EXPERIMENT_COLUMNS)
            .push(" FROM experiments e WHERE e.experiment_id = ")
            .i64(id);
        self.one_experiment(s)
            .await?
            .ok_or_else(|| experiment_not_found(id))
    }

    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        let mut s = Sql::new(self.dialect);
        s.push("SELECT ")
            .push(EXPERIMENT_COLUMNS)
            .push(" FROM experiments e WHERE e.name = ")
            .str(name);
        self.one_experiment(s).await?.ok_or_else(|| {
            Error::not_found(format!("Could not find experiment with name '{name}'"))
        })
    }

    async fn search_experiments(&self, q: &ExperimentSearch) -> Result<Page<Experiment>> {
        let stages: Vec<String> = q.view.stages().iter().map(|s| s.to_string()).collect();
        // Tie-breaks, as MLflow's: newest first when no order is given, then by id.
        let mut tie_break = Vec::new();
        if q.order_by.is_empty() {
            tie_break.push("e.creation_time DESC".into());
        }
        tie_break.push("e.experiment_id ASC".into());
        let full = Sql::search(
            self.dialect,
            &Search {
                target: &TARGET,
                scope: &|s: &mut Sql| {
                    s.push("e.lifecycle_stage IN ").str_list(&stages);
                    s.visible("e.experiment_id", &q.visible, true);
                },
                filter: q.filter.as_ref(),
                order_by: &q.order_by,
                tie_break,
                max_results: q.max_results,
                offset: q.offset,
                metric_scope: None,
                segment: None,
                drive: None,
                walk: None,
            },
        )?;
        let rows = full.query().fetch_all(&self.reader).await?;
        let mut items: Vec<Experiment> = rows
            .iter()
            .map(experiment_from_row)
            .collect::<Result<_>>()?;
        let ids: Vec<i64> = items
            .iter()
            .filter_map(|e| e.experiment_id.parse().ok())
            .collect();
        let mut tags = self.experiment_tags(&ids).await?;
        for e in &mut items {
            if let Ok(id) = e.experiment_id.parse::<i64>() {
                e.tags = tags.remove(&id).unwrap_or_default();
            }
        }
        Ok(page(items, q.max_results, q.offset))
    }

    async fn rename_experiment(&self, id: i64, new_name: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let stage = Self::experiment_stage(&mut tx, id).await?;
        match stage.as_str() {
            "active" => {}
            _ => return Err(Error::invalid("Cannot rename a non-active experiment.")),
        }
        sqlx::query(
            "UPDATE experiments SET name = $1, last_update_time = $2 WHERE experiment_id = $3",
        )
        .bind(new_name)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            unique_violation(e, || format!("Experiment(name={new_name}) already exists."))
        })?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_experiment_lifecycle(&self, id: i64, stage: &str) -> Result<()> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query(
            "UPDATE experiments SET lifecycle_stage = $1, last_update_time = $2 WHERE experiment_id = $3",
        )
        .bind(stage)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(experiment_not_found(id));
        }
        // Deleting an experiment deletes its runs; restoring restores them (MLflow's SQL store).
        if stage == "deleted" {
            sqlx::query(
                "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = $1 \
                 WHERE experiment_id = $2 AND lifecycle_stage = 'active'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE runs SET lifecycle_stage = 'active', deleted_time = NULL \
                 WHERE experiment_id = $1 AND lifecycle_stage = 'deleted'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_experiment_tag(&self, id: i64, tag: &KeyValue) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let stage = Self::experiment_stage(&mut tx, id).await?;
        match stage.as_str() {
            "active" => {}
            s => {
                return Err(Error::invalid(format!(
                    "The experiment {id} must be in the 'active' state. Current state is {s}."
                )))
            }
        }
        upsert_tags(
            &mut tx,
            self.dialect,
            &experiment_tags(id),
            std::slice::from_ref(tag),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_experiment_tag(&self, id: i64, key: &str) -> Result<()> {
        self.get_experiment(id).await?;
        let r = sqlx::query("DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2")
            .bind(id)
            .bind(key)
            .execute(&self.writer)
            .await?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(format!(
                "No tag with name: {key} in experiment with id {id}"
            )));
        }
        Ok(())
    }
}
