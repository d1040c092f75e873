//! Storage: the traits the domain calls and their SQL implementation.
//!
//! This is the only module with SQL in it. One implementation, [`SqlStore`], serves SQLite and
//! PostgreSQL through sqlx's `Any` driver: queries use `$N` placeholders, which both engines
//! accept, and the few places the dialects differ (auto-increment, LIKE case rules, locks) go
//! through [`Dialect`]. Each backend has its own migrations under `migrations/<backend>/`.
//!
//! SQLite gets one writer connection and a small pool of readers (WAL mode): writers queue in
//! the pool instead of spinning on SQLITE_BUSY, which is what keeps concurrent logging fast.

pub mod auth;
mod builder;
mod experiments;
mod logged_models;
mod metrics;
mod migrate;
pub mod mlflow_auth;
pub mod mlflow_import;
mod models;
mod registry;
mod run_search;
mod runs;
mod versions;
mod webhooks;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::error::{Error, Result};
use crate::search::{Expr, OrderBy};
use crate::types::*;
pub use webhooks::{Claimed, Outcome, WebhookStore};

/// The SQL dialect behind a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgresql",
        }
    }
}

/// Where a new experiment's artifacts go.
#[derive(Debug, Clone)]
pub enum ArtifactLocation {
    /// Given by the client.
    Given(String),
    /// `<root>/<experiment_id>`, the id known only after insertion.
    UnderRoot(String),
}

/// A new run, validated by the tracking layer.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub experiment_id: i64,
    pub user_id: String,
    pub run_name: String,
    pub start_time: i64,
    pub tags: Vec<KeyValue>,
}

/// Changes to a run's info.
#[derive(Debug, Clone, Default)]
pub struct RunUpdate {
    pub status: Option<String>,
    pub end_time: Option<i64>,
    pub run_name: Option<String>,
}

/// A search request, already parsed and validated.
#[derive(Debug, Clone)]
pub struct RunSearch {
    pub experiment_ids: Vec<i64>,
    pub filter: Option<Expr>,
    pub view: ViewType,
    pub order_by: Vec<OrderBy>,
    pub max_results: i64,
    /// Where the page starts (from the page token).
    pub cursor: crate::search::Cursor,
}

#[derive(Debug, Clone)]
pub struct ExperimentSearch {
    pub filter: Option<Expr>,
    pub view: ViewType,
    pub order_by: Vec<OrderBy>,
    pub max_results: i64,
    pub offset: i64,
    /// The experiments the caller may read.
    pub visible: Visible,
}

/// A downsampled series for charts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Series {
    pub run_id: String,
    pub key: String,
    pub total_points: i64,
    pub downsampled: bool,
    pub points: Vec<Metric>,
}

/// Experiments and their tags.
#[async_trait]
pub trait ExperimentStore: Send + Sync {
    async fn create_experiment(
        &self,
        name: &str,
        location: ArtifactLocation,
        tags: &[KeyValue],
    ) -> Result<String>;
    /// Create experiment 0 ("Default") if it does not exist.
    async fn ensure_default_experiment(&self, location: ArtifactLocation) -> Result<()>;
    async fn get_experiment(&self, id: i64) -> Result<Experiment>;
    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment>;
    async fn search_experiments(&self, q: &ExperimentSearch) -> Result<Page<Experiment>>;
    async fn rename_experiment(&self, id: i64, new_name: &str) -> Result<()>;
    async fn set_experiment_lifecycle(&self, id: i64, stage: &str) -> Result<()>;
    async fn set_experiment_tag(&self, id: i64, tag: &KeyValue) -> Result<()>;
    async fn delete_experiment_tag(&self, id: i64, key: &str) -> Result<()>;
}

/// Runs and what is logged to them: params, tags, metrics, inputs, outputs; run search.
#[async_trait]
pub trait RunStore: Send + Sync {
    async fn create_run(&self, run: NewRun) -> Result<Run>;
    async fn get_run(&self, run_id: &str) -> Result<Run>;
    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo>;
    async fn set_run_lifecycle(&self, run_id: &str, stage: &str) -> Result<()>;
    /// Log metrics, params and tags atomically (params may not change value).
    async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[NewMetric],
        params: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<()>;
    async fn delete_tag(&self, run_id: &str, key: &str) -> Result<()>;
    async fn get_tag(&self, run_id: &str, key: &str) -> Result<Option<String>>;
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<()>;
    async fn log_outputs(&self, run_id: &str, models: &[ModelOutput]) -> Result<()>;
    async fn search_runs(&self, q: &RunSearch) -> Result<Page<Run>>;
}

/// Reading metric history: pages, MLflow's sampled bulk history, and chart series.
#[async_trait]
pub trait MetricStore: Send + Sync {
    async fn metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: i64,
        offset: i64,
    ) -> Result<Vec<Metric>>;
    /// Every run's history of one metric, by run id, timestamp, step and value, at most
    /// `max_results` points in all (MLflow's get-history-bulk).
    async fn metric_history_bulk(
        &self,
        run_ids: &[String],
        key: &str,
        max_results: i64,
    ) -> Result<Vec<Metric>>;
    /// MLflow's sampled history: the ordered rows of each run split into `max_results` even
    /// buckets, each bucket's first row kept, and the history's last row always included.
    async fn metric_history_bulk_interval(
        &self,
        run_ids: &[String],
        key: &str,
        start_step: Option<i64>,
        end_step: Option<i64>,
        max_results: i64,
    ) -> Result<Vec<Metric>>;
    /// Charts: at most ~`max_points` per run, keeping each bucket's first, min, max and last.
    async fn metric_downsample(
        &self,
        run_ids: &[String],
        key: &str,
        max_points: i64,
    ) -> Result<Vec<Series>>;
}

/// Everything tracking needs: experiments, runs and metric history.
pub trait TrackingStore: ExperimentStore + RunStore + MetricStore {}

impl<T: ExperimentStore + RunStore + MetricStore> TrackingStore for T {}

/// A new model version, validated by the registry layer.
#[derive(Debug, Clone)]
pub struct NewModelVersion {
    pub name: String,
    pub source: String,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
    pub tags: Vec<KeyValue>,
    pub description: Option<String>,
    pub run_link: Option<String>,
    /// Where the files are, resolved from `source`.
    pub storage_location: String,
    pub user_id: Option<String>,
}

/// A registry search, parsed and validated.
#[derive(Debug, Clone)]
pub struct RegistrySearch {
    pub filter: Option<Expr>,
    pub order_by: Vec<OrderBy>,
    pub max_results: i64,
    pub offset: i64,
    /// The registered models (by name) the caller may read.
    pub visible: Visible,
}

/// A logged-model search, parsed and validated.
#[derive(Debug, Clone)]
pub struct LoggedModelSearch {
    pub experiment_ids: Vec<i64>,
    pub filter: Option<Expr>,
    /// Only models with metrics on one of these datasets; metric filters compare only those.
    pub datasets: Vec<DatasetFilter>,
    pub order_by: Vec<OrderBy>,
    pub max_results: i64,
    pub offset: i64,
    /// The experiments whose models the caller may read.
    pub visible: Visible,
}

/// A dataset a logged-model search is restricted to: its name, and its digest when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetFilter {
    pub name: String,
    pub digest: Option<String>,
}

/// A new logged model.
#[derive(Debug, Clone)]
pub struct NewLoggedModel {
    pub experiment_id: i64,
    pub name: String,
    pub source_run_id: Option<String>,
    pub model_type: Option<String>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

/// Registered models and their tags.
#[async_trait]
pub trait ModelStore: Send + Sync {
    async fn create_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &[KeyValue],
    ) -> Result<RegisteredModel>;
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel>;
    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel>;
    async fn delete_registered_model(&self, name: &str) -> Result<()>;
    async fn search_registered_models(&self, q: &RegistrySearch) -> Result<Page<RegisteredModel>>;
    async fn set_registered_model_tag(&self, name: &str, tag: &KeyValue) -> Result<()>;
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()>;
    /// The newest version per stage, restricted to `stages` when non-empty.
    async fn latest_versions(&self, name: &str, stages: &[String]) -> Result<Vec<ModelVersion>>;
}

/// Model versions, stages and aliases (with the history of their moves).
#[async_trait]
pub trait VersionStore: Send + Sync {
    /// Create a version with the next number: unique and never reused, also across replicas.
    async fn create_model_version(&self, v: NewModelVersion) -> Result<ModelVersion>;
    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion>;
    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: &str,
    ) -> Result<ModelVersion>;
    async fn transition_stage(
        &self,
        name: &str,
        version: i64,
        stage: &str,
        archive_existing: bool,
    ) -> Result<ModelVersion>;
    async fn delete_model_version(&self, name: &str, version: i64) -> Result<()>;
    async fn search_model_versions(&self, q: &RegistrySearch) -> Result<Page<ModelVersion>>;
    async fn set_model_version_tag(&self, name: &str, version: i64, tag: &KeyValue) -> Result<()>;
    async fn delete_model_version_tag(&self, name: &str, version: i64, key: &str) -> Result<()>;

    /// Point `alias` at `version` (atomically moving it), recording the move.
    async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
        by: Option<&str>,
    ) -> Result<()>;
    async fn delete_alias(&self, name: &str, alias: &str, by: Option<&str>) -> Result<()>;
    async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;
    /// Every recorded move of a model's aliases (one alias when given), oldest first.
    async fn alias_history(&self, name: &str, alias: Option<&str>) -> Result<Vec<AliasEvent>>;
}

/// MLflow 3 logged models.
#[async_trait]
pub trait LoggedModelStore: Send + Sync {
    async fn create_logged_model(&self, m: NewLoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel>;
    async fn finalize_logged_model(&self, model_id: &str, status: &str) -> Result<LoggedModel>;
    async fn set_logged_model_tags(&self, model_id: &str, tags: &[KeyValue]) -> Result<()>;
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()>;
    async fn log_logged_model_params(&self, model_id: &str, params: &[KeyValue]) -> Result<()>;
    async fn delete_logged_model(&self, model_id: &str) -> Result<()>;
    async fn search_logged_models(&self, q: &LoggedModelSearch) -> Result<Page<LoggedModel>>;
}

/// Everything the registry needs: models, versions, aliases and logged models.
pub trait RegistryStore: ModelStore + VersionStore + LoggedModelStore {}

impl<T: ModelStore + VersionStore + LoggedModelStore> RegistryStore for T {}

/// The SQL store for SQLite and PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    dialect: Dialect,
    /// Pool for statements that write. SQLite: exactly one connection.
    writer: AnyPool,
    /// Pool for reads. PostgreSQL: the same pool as `writer`.
    reader: AnyPool,
    /// What to print in logs: the URI with any password masked.
    display_uri: String,
    /// The group-commit writer for run data (see `writer`).
    batcher: tokio::sync::mpsc::Sender<writer::Job>,
    /// Signalled when a change queued webhook deliveries, to wake this replica's deliverer.
    webhook_signal: std::sync::Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("uri", &self.display_uri)
            .finish()
    }
}

pub use crate::secret::redact_uri;

/// Turn an MLflow/SQLAlchemy-style SQLite URI into a filesystem path (`:memory:` stays).
fn sqlite_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("sqlite://")?;
    // sqlite:///relative.db -> "relative.db"; sqlite:////abs.db -> "/abs.db"; sqlite:// -> memory
    let path = rest.strip_prefix('/').unwrap_or(rest);
    let path = path.split('?').next().unwrap_or(path);
    Some(if path.is_empty() {
        ":memory:".to_owned()
    } else {
        path.to_owned()
    })
}

impl SqlStore {
    /// Open the store named by `uri` and run migrations, waiting up to a minute for a database
    /// that is not reachable yet.
    pub async fn open(uri: &str) -> anyhow::Result<SqlStore> {
        Self::open_within(uri, Duration::from_secs(60)).await
    }

    /// Open the store named by `uri` and run migrations; a PostgreSQL that cannot be reached is
    /// retried with backoff, saying so in the log, for at most `connect_timeout`.
    pub async fn open_within(uri: &str, connect_timeout: Duration) -> anyhow::Result<SqlStore> {
        use anyhow::Context;
        sqlx::any::install_default_drivers();
        let display_uri = redact_uri(uri);
        let store = if let Some(path) = sqlite_path(uri) {
            Self::open_sqlite(&path, &display_uri).await
        } else if let Some(rest) = ["postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"]
            .iter()
            .find_map(|s| uri.strip_prefix(&format!("{s}://")))
        {
            Self::open_postgres(&format!("postgres://{rest}"), &display_uri, connect_timeout).await
        } else {
            anyhow::bail!(
                "unsupported backend store URI '{display_uri}': use sqlite:///path.db or postgresql://user:pass@host:port/db"
            )
        }
        .with_context(|| format!("while opening the backend store {display_uri}"))?;
        migrate::run(&store)
            .await
            .context("while migrating the backend store")?;
        Ok(store)
    }

    async fn open_sqlite(path: &str, display_uri: &str) -> anyhow::Result<SqlStore> {
        let memory = path == ":memory:";
        if !memory {
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)?;
                }
            }
        }
        let url = if memory {
            // A shared in-memory database so the writer and readers see the same data.
            format!(
                "sqlite:file:weir-{}?mode=memory&cache=shared",
                uuid::Uuid::new_v4().simple()
            )
        } else {
            // An absolute path keeps `sqlite://<path>` unambiguous (a relative one would parse
            // as a URL host).
            let abs = std::path::absolute(path)?;
            let abs = abs.to_string_lossy();
            const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                .remove(b'/')
                .remove(b'.')
                .remove(b'-')
                .remove(b'_');
            let encoded = percent_encoding::utf8_percent_encode(&abs, PATH);
            format!("sqlite://{encoded}?mode=rwc")
        };
        let opts = AnyConnectOptions::from_str(&url)?;
        let writer = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(sqlite_pragmas)
            .connect_with(opts.clone())
            .await?;
        let readers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 8);
        let reader = AnyPoolOptions::new()
            .max_connections(readers as u32)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(sqlite_pragmas)
            .connect_with(opts)
            .await?;
        Ok(SqlStore {
            dialect: Dialect::Sqlite,
            batcher: writer::spawn(writer.clone(), Dialect::Sqlite),
            writer,
            reader,
            display_uri: display_uri.to_owned(),
            webhook_signal: Default::default(),
        })
    }

    async fn open_postgres(
        url: &str,
        display_uri: &str,
        connect_timeout: Duration,
    ) -> anyhow::Result<SqlStore> {
        let opts = AnyConnectOptions::from_str(url)?;
        // Unless the URI's `options` set it themselves.
        let serial = !url.contains("max_parallel_workers_per_gather");
        let started = std::time::Instant::now();
        let mut backoff = Duration::from_millis(250);
        let mut attempt = 1u32;
        let pool = loop {
            let left = connect_timeout.saturating_sub(started.elapsed());
            let tried = AnyPoolOptions::new()
                .after_connect(move |conn, _| Box::pin(postgres_session(conn, serial)))
                .max_connections(16)
                .acquire_timeout(left.clamp(Duration::from_secs(1), Duration::from_secs(10)))
                .connect_with(opts.clone())
                .await;
            match tried {
                Ok(pool) => break pool,
                Err(e) if started.elapsed() + backoff < connect_timeout => {
                    tracing::warn!(
                        store = display_uri,
                        attempt,
                        "waiting for the backend store: {e}; retrying in {backoff:?}"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                Err(e) => anyhow::bail!(
                    "cannot reach the backend store {display_uri} after {:.0?} ({attempt} attempts): {e}. \
                     Is the database running and reachable? (--db-connect-timeout sets how long to wait)",
                    started.elapsed()
                ),
            }
        };
        Ok(SqlStore {
            dialect: Dialect::Postgres,
            batcher: writer::spawn(pool.clone(), Dialect::Postgres),
            writer: pool.clone(),
            reader: pool,
            display_uri: display_uri.to_owned(),
            webhook_signal: Default::default(),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The store's URI with the password masked.
    /// Notified whenever a registry change queues webhook deliveries.
    pub fn webhook_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.webhook_signal.clone()
    }

    pub fn display_uri(&self) -> &str {
        &self.display_uri
    }

    /// A cheap liveness check for readiness probes.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Close the pools (graceful shutdown).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Per-connection SQLite settings: WAL (readers never block the writer), a busy timeout for
/// other processes on the same file, foreign keys, a bigger page cache, and the file read
/// through a memory map: a search probing tens of thousands of runs reads pages without a
/// `pread` and a copy each (a third of its time at a million runs), and all connections share
/// the operating system's cached pages instead of each warming its own.
fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures::future::BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; \
             PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32000; \
             PRAGMA mmap_size = 4294967296;",
        )
        .await
        .map(|_| ())
    })
}

/// Per-connection PostgreSQL settings: with `serial`, no parallel workers for a query. Weir's
/// queries read a page from an index and stop; where the planner's estimates made a parallel
/// plan look cheaper, starting its workers cost more than the whole serial query (a million-run
/// search ordered by a metric: 95 ms parallel, 14 ms serial on 2 cores), and under concurrent
/// searches the workers only compete with the other sessions for the same cores. A URI with
/// `?options=-c max_parallel_workers_per_gather=N` chooses otherwise.
async fn postgres_session(conn: &mut sqlx::AnyConnection, serial: bool) -> Result<(), sqlx::Error> {
    if serial {
        conn.execute("SET max_parallel_workers_per_gather = 0")
            .await?;
    }
    Ok(())
}

/// Map a unique-constraint violation to `AlreadyExists` with `message`; anything else is internal.
pub(crate) fn unique_violation(e: sqlx::Error, message: impl FnOnce() -> String) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::already_exists(message()),
        _ => Error::from(e),
    }
}

/// Cut a result fetched with one extra row into a page and the token for the next one.
pub(crate) fn page<T>(mut items: Vec<T>, max_results: i64, offset: i64) -> Page<T> {
    let next_page_token = if items.len() as i64 > max_results {
        items.truncate(max_results as usize);
        Some(crate::search::encode_page_token(
            (offset + max_results) as u64,
        ))
    } else {
        None
    };
    Page {
        items,
        next_page_token,
    }
}

pub use crate::types::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            sqlite_path("sqlite:///mlflow.db").as_deref(),
            Some("mlflow.db")
        );
        assert_eq!(
            sqlite_path("sqlite:////tmp/x.db").as_deref(),
            Some("/tmp/x.db")
        );
        assert_eq!(sqlite_path("sqlite://").as_deref(), Some(":memory:"));
        assert_eq!(sqlite_path("postgresql://x"), None);
    }
}
