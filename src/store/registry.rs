//! SQL for the model registry (registered models, versions, stages, aliases and their history)
//! and MLflow 3 logged models.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::builder::{OrderSpec, Sql, Target};
use super::*;
use crate::search::{fields, Entity};

fn model_not_found(name: &str) -> Error {
    Error::not_found(format!("Registered Model with name={name} not found"))
}

fn version_not_found(name: &str, version: i64) -> Error {
    Error::not_found(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

const RM_COLUMNS: &str = "rm.name, rm.creation_time, rm.last_updated_time, rm.description";

const MV_COLUMNS: &str = "mv.name, mv.version, mv.creation_time, mv.last_updated_time, mv.description, \
     mv.user_id, mv.current_stage, mv.source, mv.run_id, mv.run_link, mv.status, mv.status_message, \
     mv.storage_location, mv.model_id";

fn rm_from_row(r: &AnyRow) -> Result<RegisteredModel> {
    Ok(RegisteredModel {
        name: r.try_get(0)?,
        creation_timestamp: r.try_get(1)?,
        last_updated_timestamp: r.try_get(2)?,
        description: r.try_get(3)?,
        latest_versions: Vec::new(),
        tags: Vec::new(),
        aliases: Vec::new(),
    })
}

fn mv_from_row(r: &AnyRow) -> Result<ModelVersion> {
    let source: String = r.try_get(7)?;
    let storage: Option<String> = r.try_get(12)?;
    Ok(ModelVersion {
        name: r.try_get(0)?,
        version: r.try_get::<i64, _>(1)?.to_string(),
        creation_timestamp: r.try_get(2)?,
        last_updated_timestamp: r.try_get(3)?,
        description: r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
        user_id: r.try_get::<Option<String>, _>(5)?.filter(|u| !u.is_empty()),
        current_stage: r.try_get(6)?,
        storage_location: storage.unwrap_or_else(|| source.clone()),
        source,
        run_id: r.try_get::<Option<String>, _>(8)?.filter(|s| !s.is_empty()),
        run_link: r.try_get::<Option<String>, _>(9)?.unwrap_or_default(),
        status: r.try_get(10)?,
        status_message: r.try_get(11)?,
        tags: Vec::new(),
        aliases: Vec::new(),
        model_id: r.try_get(13)?,
    })
}

impl SqlStore {
    /// Serialise changes to one model across replicas (PostgreSQL row lock; SQLite has one
    /// writer already). Fails with 404 when the model does not exist.
    async fn lock_model(&self, tx: &mut Transaction<'static, Any>, name: &str) -> Result<()> {
        let sql = match self.dialect {
            Dialect::Postgres => "SELECT name FROM registered_models WHERE name = $1 FOR UPDATE",
            Dialect::Sqlite => "SELECT name FROM registered_models WHERE name = $1",
        };
        sqlx::query(sql)
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?
            .map(|_| ())
            .ok_or_else(|| model_not_found(name))
    }

    async fn touch_model(tx: &mut Transaction<'static, Any>, name: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
            .bind(now)
            .bind(name)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn version_exists(
        &self,
        tx: &mut Transaction<'static, Any>,
        name: &str,
        version: i64,
    ) -> Result<()> {
        sqlx::query("SELECT 1 FROM model_versions WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(&mut **tx)
            .await?
            .map(|_| ())
            .ok_or_else(|| version_not_found(name, version))
    }

    /// Tags of every version of the named models, keyed by (name, version).
    async fn mv_tags(&self, names: &[String]) -> Result<HashMap<(String, String), Vec<KeyValue>>> {
        let mut out: HashMap<(String, String), Vec<KeyValue>> = HashMap::new();
        if names.is_empty() {
            return Ok(out);
        }
        let mut s = Sql::new(self.dialect);
        s.push("SELECT name, version, key, value FROM model_version_tags WHERE name IN ")
            .str_list(names)
            .push(" ORDER BY name, version, key");
        for r in s.query().fetch_all(&self.reader).await? {
            let key = (
                r.try_get::<String, _>(0)?,
                r.try_get::<i64, _>(1)?.to_string(),
            );
            out.entry(key).or_default().push(KeyValue::new(
                r.try_get::<String, _>(2)?,
                r.try_get::<String, _>(3)?,
            ));
        }
        Ok(out)
    }

    async fn attach_mv_tags(&self, versions: &mut [ModelVersion]) -> Result<()> {
        let mut names: Vec<String> = versions.iter().map(|v| v.name.clone()).collect();
        names.sort();
        names.dedup();
        let mut tags = self.mv_tags(&names).await?;
        for v in versions.iter_mut() {
            v.tags = tags
                .remove(&(v.name.clone(), v.version.clone()))
                .unwrap_or_default();
        }
        Ok(())
    }

    async fn mv_aliases(&self, name: &str, version: i64) -> Result<Vec<String>> {
        sqlx::query("SELECT alias FROM registered_model_aliases WHERE name = $1 AND version = $2 ORDER BY alias")
            .bind(name)
            .bind(version)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    /// Fill tags, aliases and latest versions of registered models.
    async fn hydrate_models(
        &self,
        mut models: Vec<RegisteredModel>,
    ) -> Result<Vec<RegisteredModel>> {
        if models.is_empty() {
            return Ok(models);
        }
        let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
        let index: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let mut s = Sql::new(self.dialect);
        s.push("SELECT name, key, value FROM registered_model_tags WHERE name IN ")
            .str_list(&names)
            .push(" ORDER BY name, key");
        for r in s.query().fetch_all(&self.reader).await? {
            if let Some(&i) = index.get(&r.try_get::<String, _>(0)?) {
                models[i].tags.push(KeyValue::new(
                    r.try_get::<String, _>(1)?,
                    r.try_get::<String, _>(2)?,
                ));
            }
        }
        let mut s = Sql::new(self.dialect);
        s.push("SELECT name, alias, version FROM registered_model_aliases WHERE name IN ")
            .str_list(&names)
            .push(" ORDER BY name, alias");
        for r in s.query().fetch_all(&self.reader).await? {
            if let Some(&i) = index.get(&r.try_get::<String, _>(0)?) {
                models[i].aliases.push(RegisteredModelAlias {
                    alias: r.try_get(1)?,
                    version: r.try_get::<i64, _>(2)?.to_string(),
                });
            }
        }
        let mut s = Sql::new(self.dialect);
        s.push("SELECT ")
            .push(MV_COLUMNS)
            .push(
                " FROM model_versions mv WHERE mv.version = (SELECT MAX(v2.version) FROM model_versions v2 \
                 WHERE v2.name = mv.name AND v2.current_stage = mv.current_stage) AND mv.name IN ",
            )
            .str_list(&names)
            .push(" ORDER BY mv.name, mv.version");
        let mut latest: Vec<ModelVersion> = s
            .query()
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(mv_from_row)
            .collect::<Result<_>>()?;
        self.attach_mv_tags(&mut latest).await?;
        for v in latest {
            if let Some(&i) = index.get(&v.name) {
                models[i].latest_versions.push(v);
            }
        }
        Ok(models)
    }

    async fn record_alias_move(
        tx: &mut Transaction<'static, Any>,
        name: &str,
        alias: &str,
        from: Option<i64>,
        to: Option<i64>,
        by: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO registered_model_alias_history (name, alias, from_version, to_version, changed_at, changed_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name)
        .bind(alias)
        .bind(from)
        .bind(to)
        .bind(now_ms())
        .bind(by.map(str::to_owned))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ModelRegistryStore for SqlStore {
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
        for t in tags {
            sqlx::query(
                "INSERT INTO registered_model_tags (name, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(t.key.clone())
            .bind(t.value.clone())
            .execute(&mut *tx)
            .await?;
        }
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
        tx.commit().await?;
        Ok(())
    }

    async fn search_registered_models(&self, q: &RegistrySearch) -> Result<Page<RegisteredModel>> {
        let mut s = Sql::new(self.dialect);
        let mut joins = String::new();
        let spec = OrderSpec {
            alias: "rm",
            fields: &fields::REGISTERED_MODELS,
            sides: &[(
                Entity::Tag,
                "registered_model_tags",
                "{j}.name = rm.name",
                true,
            )],
        };
        let mut order = s.order_terms(&mut joins, &q.order_by, &spec)?;
        order.push("rm.name ASC".into());
        s.push("SELECT ")
            .push(RM_COLUMNS)
            .push(" FROM registered_models rm")
            .push(&joins)
            .push(" WHERE 1 = 1");
        if let Some(f) = &q.filter {
            s.push(" AND ");
            let t = Target {
                alias: "rm",
                fields: &fields::REGISTERED_MODELS,
                tags: Some(("registered_model_tags", "kv.name = rm.name")),
                params: None,
                metrics: None,
                datasets: None,
                ne_includes_missing: true,
            };
            s.filter(&t, f)?;
        }
        s.order_and_page(&order, q.max_results, q.offset);
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
        sqlx::query(
            "INSERT INTO registered_model_tags (name, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(tag.key.clone())
        .bind(tag.value.clone())
        .execute(&mut *tx)
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
        for t in &v.tags {
            sqlx::query(
                "INSERT INTO model_version_tags (name, version, key, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
            )
            .bind(v.name.clone())
            .bind(version)
            .bind(t.key.clone())
            .bind(t.value.clone())
            .execute(&mut *tx)
            .await?;
        }
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
        let mut s = Sql::new(self.dialect);
        let mut joins = String::new();
        let spec = OrderSpec {
            alias: "mv",
            fields: &fields::MODEL_VERSIONS,
            sides: &[(
                Entity::Tag,
                "model_version_tags",
                "{j}.name = mv.name AND {j}.version = mv.version",
                true,
            )],
        };
        let mut order = s.order_terms(&mut joins, &q.order_by, &spec)?;
        order.push("mv.name ASC".into());
        order.push("mv.version DESC".into());
        s.push("SELECT ")
            .push(MV_COLUMNS)
            .push(" FROM model_versions mv")
            .push(&joins)
            .push(" WHERE 1 = 1");
        if let Some(f) = &q.filter {
            s.push(" AND ");
            let t = Target {
                alias: "mv",
                fields: &fields::MODEL_VERSIONS,
                tags: Some((
                    "model_version_tags",
                    "kv.name = mv.name AND kv.version = mv.version",
                )),
                params: None,
                metrics: None,
                datasets: None,
                ne_includes_missing: true,
            };
            s.filter(&t, f)?;
        }
        s.order_and_page(&order, q.max_results, q.offset);
        let rows = s.query().fetch_all(&self.reader).await?;
        let versions: Vec<ModelVersion> = rows.iter().map(mv_from_row).collect::<Result<_>>()?;
        let mut p = page(versions, q.max_results, q.offset);
        self.attach_mv_tags(&mut p.items).await?;
        Ok(p)
    }

    async fn set_model_version_tag(&self, name: &str, version: i64, tag: &KeyValue) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        self.version_exists(&mut tx, name, version).await?;
        sqlx::query(
            "INSERT INTO model_version_tags (name, version, key, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(version)
        .bind(tag.key.clone())
        .bind(tag.value.clone())
        .execute(&mut *tx)
        .await?;
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
