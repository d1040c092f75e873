//! Model versions, stages and aliases (with their history), on SQLite and PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;

use super::builder::{upsert_tags, Arg, Search, SearchTarget, Side, Sql, TagOwner};
use super::registry::*;
use super::*;
use crate::search::{fields, Entity};
use crate::types::webhook::Change;

/// Where a model version's tags are.
fn version_tags(name: &str, version: i64) -> TagOwner {
    TagOwner {
        table: "model_version_tags",
        columns: &["name", "version"],
        values: vec![Arg::Str(name.to_owned()), Arg::I64(version)],
    }
}

/// Model versions as searches read them.
static TARGET: SearchTarget = SearchTarget {
    table: "model_versions",
    alias: "mv",
    columns: MV_COLUMNS,
    fields: &fields::MODEL_VERSIONS,
    sides: &[Side {
        entity: Entity::Tag,
        table: "model_version_tags",
        join: "{j}.name = mv.name AND {j}.version = mv.version",
        unique: true,
    }],
    ne_includes_missing: true,
    walk_side: None,
};

#[async_trait]
impl VersionStore for SqlStore {
    async fn create_model_version(&self, v: NewModelVersion) -> Result<ModelVersion> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        // The increment takes the model's row lock: concurrent creators (any replica) queue here,
        // and every one gets the next number. Numbers are never reused.
        let row = sqlx::query(
            "UPDATE registered_models SET last_version = last_version + 1, last_updated_time = $1 \
             WHERE name = $2 RETURNING last_version",
        )
        .bind(now)
        .bind(v.name.clone())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| model_not_found(&v.name))?;
        let version: i64 = row.try_get(0)?;
        sqlx::query(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id, \
             current_stage, source, run_id, run_link, status, storage_location, model_id) \
             VALUES ($1, $2, $3, $3, $4, $5, 'None', $6, $7, $8, 'READY', $9, $10)",
        )
        .bind(v.name.clone())
        .bind(version)
        .bind(now)
        .bind(v.description.clone())
        .bind(v.user_id.clone())
        .bind(v.source.clone())
        .bind(v.run_id.clone())
        .bind(v.run_link.clone())
        .bind(v.storage_location.clone())
        .bind(v.model_id.clone())
        .execute(&mut *tx)
        .await?;
        upsert_tags(
            &mut tx,
            self.dialect,
            &version_tags(&v.name, version),
            &v.tags,
        )
        .await?;
        let change = Change::version_created(
            &v.name,
            version,
            &v.source,
            v.run_id.as_deref(),
            &v.tags,
            v.description.as_deref(),
        );
        self.enqueue_change(&mut tx, change).await?;
        tx.commit().await?;
        self.get_model_version(&v.name, version).await
    }

    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let sql = format!(
            "SELECT {MV_COLUMNS} FROM model_versions mv WHERE mv.name = $1 AND mv.version = $2"
        );
        let row = sqlx::query(&sql)
            .bind(name)
            .bind(version)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| version_not_found(name, version))?;
        let mut v = vec![mv_from_row(&row)?];
        self.attach_mv_tags(&mut v).await?;
        let mut v = v.remove(0);
        v.aliases = self.mv_aliases(name, version).await?;
        Ok(v)
    }

    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: &str,
    ) -> Result<ModelVersion> {
        let r = sqlx::query("UPDATE model_versions SET description = $1, last_updated_time = $2 WHERE name = $3 AND version = $4")
            .bind(description)
            .bind(now_ms())
            .bind(name)
            .bind(version)
            .execute(&self.writer)
            .await?;
        if r.rows_affected() == 0 {
            return Err(version_not_found(name, version));
        }
        self.get_model_version(name, version).await
    }

    async fn transition_stage(
        &self,
        name: &str,
        version: i64,
        stage: &str,
        archive_existing: bool,
    ) -> Result<ModelVersion> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        self.lock_model(&mut tx, name).await?;
        self.version_exists(&mut tx, name, version).await?;
        if archive_existing && (stage == "Staging" || stage == "Production") {
            sqlx::query(
                "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = $1 \
                 WHERE name = $2 AND current_stage = $3 AND version <> $4",
            )
            .bind(now)
            .bind(name)
            .bind(stage)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE model_versions SET current_stage = $1, last_updated_time = $2 WHERE name = $3 AND version = $4")
            .bind(stage)
            .bind(now)
            .bind(name)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        Self::touch_model(&mut tx, name, now).await?;
        tx.commit().await?;
        let mut v = self.get_model_version(name, version).await?;
        v.aliases.clear();
        Ok(v)
    }

    async fn delete_model_version(&self, name: &str, version: i64) -> Result<()> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        self.lock_model(&mut tx, name).await?;
        self.version_exists(&mut tx, name, version).await?;
        let aliases: Vec<String> = sqlx::query(
            "SELECT alias FROM registered_model_aliases WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(version)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect::<Result<_>>()?;
        for a in &aliases {
            Self::record_alias_move(&mut tx, name, a, Some(version), None, None).await?;
        }
        sqlx::query("DELETE FROM registered_model_aliases WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM model_versions WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        Self::touch_model(&mut tx, name, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn search_model_versions(&self, q: &RegistrySearch) -> Result<Page<ModelVersion>> {
        // MLflow's order: newest change first unless asked otherwise, then name ascending and
        // version descending wherever the request did not order by them itself.
        let ordered_by = |key: &str| {
            q.order_by
                .iter()
                .any(|o| o.entity == crate::search::Entity::Attribute && o.key == key)
        };
        let mut tie_break = Vec::new();
        if q.order_by.is_empty() {
            tie_break.push("mv.last_updated_time DESC".to_owned());
        }
        if !ordered_by("name") {
            tie_break.push("mv.name ASC".to_owned());
        }
        if !ordered_by("version_number") {
            tie_break.push("mv.version DESC".to_owned());
        }
        let s = Sql::search(
            self.dialect,
            &Search {
                target: &TARGET,
                scope: &|s: &mut Sql| {
                    s.push("1 = 1");
                    s.visible("mv.name", &q.visible, false);
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
        let rows = s.query().fetch_all(&self.reader).await?;
        let versions: Vec<ModelVersion> = rows.iter().map(mv_from_row).collect::<Result<_>>()?;
        let mut p = page(versions, q.max_results, q.offset);
        self.attach_mv_tags(&mut p.items).await?;
        Ok(p)
    }

    async fn set_model_version_tag(&self, name: &str, version: i64, tag: &KeyValue) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.version_exists(&mut tx, name, version).await?;
        upsert_tags(
            &mut tx,
            self.dialect,
            &version_tags(name, version),
            std::slice::from_ref(tag),
        )
        .await?;
        let change = Change::version_tag_set(name, version, &tag.key, &tag.value);
        self.enqueue_change(&mut tx, change).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_model_version_tag(&self, name: &str, version: i64, key: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.version_exists(&mut tx, name, version).await?;
        sqlx::query("DELETE FROM model_version_tags WHERE name = $1 AND version = $2 AND key = $3")
            .bind(name)
            .bind(version)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        let change = Change::version_tag_deleted(name, version, key);
        self.enqueue_change(&mut tx, change).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
        by: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.lock_model(&mut tx, name).await?;
        self.version_exists(&mut tx, name, version).await?;
        let old: Option<i64> = sqlx::query(
            "SELECT version FROM registered_model_aliases WHERE name = $1 AND alias = $2",
        )
        .bind(name)
        .bind(alias)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        sqlx::query(
            "INSERT INTO registered_model_aliases (name, alias, version) VALUES ($1, $2, $3) \
             ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
        )
        .bind(name)
        .bind(alias)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if old != Some(version) {
            Self::record_alias_move(&mut tx, name, alias, old, Some(version), by).await?;
        }
        self.enqueue_change(&mut tx, Change::alias_created(name, alias, version))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_alias(&self, name: &str, alias: &str, by: Option<&str>) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.lock_model(&mut tx, name).await?;
        let old: Option<i64> = sqlx::query(
            "SELECT version FROM registered_model_aliases WHERE name = $1 AND alias = $2",
        )
        .bind(name)
        .bind(alias)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        if let Some(v) = old {
            sqlx::query("DELETE FROM registered_model_aliases WHERE name = $1 AND alias = $2")
                .bind(name)
                .bind(alias)
                .execute(&mut *tx)
                .await?;
            Self::record_alias_move(&mut tx, name, alias, Some(v), None, by).await?;
            self.enqueue_change(&mut tx, Change::alias_deleted(name, alias))
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let version: i64 = sqlx::query(
            "SELECT version FROM registered_model_aliases WHERE name = $1 AND alias = $2",
        )
        .bind(name)
        .bind(alias)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?
        .ok_or_else(|| Error::invalid(format!("Registered model alias {alias} not found.")))?;
        self.get_model_version(name, version).await
    }

    async fn alias_history(&self, name: &str, alias: Option<&str>) -> Result<Vec<AliasEvent>> {
        let mut s = Sql::new(self.dialect);
        s.push("SELECT name, alias, from_version, to_version, changed_at, changed_by FROM registered_model_alias_history WHERE name = ")
            .str(name);
        if let Some(a) = alias {
            s.push(" AND alias = ").str(a);
        }
        s.push(" ORDER BY changed_at, id");
        s.query()
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| {
                Ok(AliasEvent {
                    name: r.try_get(0)?,
                    alias: r.try_get(1)?,
                    from_version: r.try_get::<Option<i64>, _>(2)?.map(|v| v.to_string()),
                    to_version: r.try_get::<Option<i64>, _>(3)?.map(|v| v.to_string()),
                    changed_at: r.try_get(4)?,
                    changed_by: r.try_get(5)?,
                })
            })
            .collect()
    }
}
