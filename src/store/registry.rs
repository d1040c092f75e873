//! SQL for the model registry (registered models, versions, stages, aliases and their history)
//! and MLflow 3 logged models.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::builder::Sql;
use super::*;

pub(super) fn model_not_found(name: &str) -> Error {
    Error::not_found(format!("Registered Model with name={name} not found"))
}

pub(super) fn version_not_found(name: &str, version: i64) -> Error {
    Error::not_found(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

pub(super) const RM_COLUMNS: &str =
    "rm.name, rm.creation_time, rm.last_updated_time, rm.description";

pub(super) const MV_COLUMNS: &str = "mv.name, mv.version, mv.creation_time, mv.last_updated_time, mv.description, \
     mv.user_id, mv.current_stage, mv.source, mv.run_id, mv.run_link, mv.status, mv.status_message, \
     mv.storage_location, mv.model_id";

pub(super) fn rm_from_row(r: &AnyRow) -> Result<RegisteredModel> {
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

pub(super) fn mv_from_row(r: &AnyRow) -> Result<ModelVersion> {
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
    pub(super) async fn lock_model(
        &self,
        tx: &mut Transaction<'static, Any>,
        name: &str,
    ) -> Result<()> {
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

    pub(super) async fn touch_model(
        tx: &mut Transaction<'static, Any>,
        name: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE registered_models SET last_updated_time = $1 WHERE name = $2")
            .bind(now)
            .bind(name)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub(super) async fn version_exists(
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
    pub(super) async fn mv_tags(
        &self,
        names: &[String],
    ) -> Result<HashMap<(String, String), Vec<KeyValue>>> {
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

    pub(super) async fn attach_mv_tags(&self, versions: &mut [ModelVersion]) -> Result<()> {
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

    pub(super) async fn mv_aliases(&self, name: &str, version: i64) -> Result<Vec<String>> {
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
    pub(super) async fn hydrate_models(
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

    pub(super) async fn record_alias_move(
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
