//! Registered models and their tags, on SQLite and PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;

use super::builder::{upsert_tags, Arg, Search, SearchTarget, Side, Sql, TagOwner};
use super::registry::*;
use super::*;
use crate::search::{fields, Entity};
use crate::types::webhook::Change;

/// Where a registered model's tags are.
fn model_tags(name: &str) -> TagOwner {
    TagOwner {
        table: "registered_model_tags",
        columns: &["name"],
        values: vec![Arg::Str(name.to_owned())],
    }
}

/// Registered models as searches read them.
static TARGET: SearchTarget = SearchTarget {
    table: "registered_models",
    alias: "rm",
    columns: RM_COLUMNS,
    fields: &fields::REGISTERED_MODELS,
    sides: &[Side {
        entity: Entity::Tag,
        table: "registered_model_tags",
        join: "{j}.name = rm.name",
        unique: true,
    }],
    ne_includes_missing: true,
    walk_side: None,
};

#[async_trait]
impl ModelStore for SqlStore {
    async fn create_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &[KeyValue],
    ) -> Result<RegisteredModel> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description) VALUES ($1, $2, $2, $3)",
        )
        .bind(name)
        .bind(now)
        .bind(description.map(str::to_owned))
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, || format!("Registered Model (name={name}) already exists.")))?;
        upsert_tags(&mut tx, self.dialect, &model_tags(name), tags).await?;
        let change = Change::model_created(name, tags, description);
        self.enqueue_change(&mut tx, change).await?;
        tx.commit().await?;
        self.get_registered_model(name).await
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let sql = format!("SELECT {RM_COLUMNS} FROM registered_models rm WHERE rm.name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| model_not_found(name))?;
        self.hydrate_models(vec![rm_from_row(&row)?])
            .await?
            .pop()
            .ok_or_else(|| model_not_found(name))
    }

    async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        let r = sqlx::query(
            "UPDATE registered_models SET description = $1, last_updated_time = $2 WHERE name = $3",
        )
        .bind(description)
        .bind(now_ms())
        .bind(name)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 0 {
            return Err(model_not_found(name));
        }
        self.get_registered_model(name).await
    }

    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        self.lock_model(&mut tx, name).await?;
        sqlx::query(
            "UPDATE registered_models SET name = $1, last_updated_time = $2 WHERE name = $3",
        )
        .bind(new_name)
        .bind(now)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            unique_violation(e, || {
                format!("Registered Model (name={new_name}) already exists.")
            })
        })?;
        // Versions, tags and aliases follow through ON UPDATE CASCADE; the history keeps up too.
        sqlx::query("UPDATE model_versions SET last_updated_time = $1 WHERE name = $2")
            .bind(now)
            .bind(new_name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE registered_model_alias_history SET name = $1 WHERE name = $2")
            .bind(new_name)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        // Grants of the basic-auth app follow the model.
        sqlx::query("UPDATE auth_registered_model_permissions SET name = $1 WHERE name = $2")
            .bind(new_name)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.get_registered_model(new_name).await
    }

    async fn delete_registered_model(&self, name: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.lock_model(&mut tx, name).await?;
        let aliases: Vec<(String, i64)> =
            sqlx::query("SELECT alias, version FROM registered_model_aliases WHERE name = $1")
                .bind(name)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_>>()?;
        for (alias, v) in aliases {
            Self::record_alias_move(&mut tx, name, &alias, Some(v), None, None).await?;
        }
        sqlx::query("DELETE FROM registered_models WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        // A model created again under this name starts with no grants.
        sqlx::query("DELETE FROM auth_registered_model_permissions WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn search_registered_models(&self, q: &RegistrySearch) -> Result<Page<RegisteredModel>> {
        let s = Sql::search(
            self.dialect,
            &Search {
                target: &TARGET,
                scope: &|s: &mut Sql| {
                    s.push("1 = 1");
                    s.visible("rm.name", &q.visible, false);
                },
                filter: q.filter.as_ref(),
                order_by: &q.order_by,
                tie_break: vec!["rm.name ASC".into()],
                max_results: q.max_results,
                offset: q.offset,
                metric_scope: None,
                segment: None,
                drive: None,
                walk: None,
            },
        )?;
        let rows = s.query().fetch_all(&self.reader).await?;
        let models: Vec<RegisteredModel> = rows.iter().map(rm_from_row).collect::<Result<_>>()?;
        let p = page(models, q.max_results, q.offset);
        Ok(Page {
            items: self.hydrate_models(p.items).await?,
            next_page_token: p.next_page_token,
        })
    }

    async fn set_registered_model_tag(&self, name: &str, tag: &KeyValue) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.lock_model(&mut tx, name).await?;
        upsert_tags(
            &mut tx,
            self.dialect,
            &model_tags(name),
            std::slice::from_ref(tag),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.lock_model(&mut tx, name).await?;
        sqlx::query("DELETE FROM registered_model_tags WHERE name = $1 AND key = $2")
            .bind(name)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn latest_versions(&self, name: &str, stages: &[String]) -> Result<Vec<ModelVersion>> {
        let m = self.get_registered_model(name).await?;
        Ok(m.latest_versions
            .into_iter()
            .filter(|v| {
                stages.is_empty()
                    || stages
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&v.current_stage))
            })
            .collect())
    }
}
