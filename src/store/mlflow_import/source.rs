//! Reading MLflow's tracking database: what it holds (tables, columns, alembic revision) and its
//! rows, streamed in one read-only snapshot so a copy is consistent even if MLflow is running.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use futures::TryStreamExt;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use super::batch::Batch;
use super::tables::TableCopy;
use super::target::Target;
use super::{Progress, SourceUri};

/// Which SQL MLflow's database speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    #[default]
    Sqlite,
    Postgres,
    /// MySQL or MariaDB, read with `ANSI_QUOTES` on, so `"key"` is a column there too.
    Mysql,
}

/// What MLflow's database holds, for building SELECTs that fit it.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub dialect: Dialect,
    /// Each table's columns (lower case).
    pub tables: BTreeMap<String, BTreeSet<String>>,
}

impl Schema {
    pub fn has_table(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    pub fn has_column(&self, table: &str, column: &str) -> bool {
        self.tables.get(table).is_some_and(|c| c.contains(column))
    }

    /// `column` when `table` has it (newer MLflow), else `default`.
    pub fn or(&self, table: &str, column: &str, default: &str) -> String {
        if self.has_column(table, column) {
            column.to_owned()
        } else {
            default.to_owned()
        }
    }

    /// An expression read as a 64-bit integer.
    pub fn int(&self, expr: &str) -> String {
        match self.dialect {
            Dialect::Mysql => format!("CAST({expr} AS SIGNED)"),
            Dialect::Sqlite | Dialect::Postgres => format!("CAST({expr} AS BIGINT)"),
        }
    }

    /// An expression read as a double (`AS DOUBLE`: MySQL 8.0.17+, MariaDB 10.4+).
    pub fn float(&self, expr: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("CAST({expr} AS REAL)"),
            Dialect::Postgres => format!("CAST({expr} AS DOUBLE PRECISION)"),
            Dialect::Mysql => format!("CAST({expr} AS DOUBLE)"),
        }
    }

    /// An expression read as text. SQLite may hold a number in a text column; MySQL marks a
    /// column with a binary collation (`utf8mb4_bin`) or a JSON function's result as binary,
    /// which the driver would not decode as a string, so it is converted to utf8mb4 text.
    pub fn text(&self, expr: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("CAST({expr} AS TEXT)"),
            Dialect::Postgres => expr.to_owned(),
            Dialect::Mysql => format!("CAST({expr} AS CHAR CHARACTER SET utf8mb4)"),
        }
    }
}

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    Mysql(MySqlConnection),
}

/// Run `$body` with `$c` bound to the connection, whatever its database.
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Postgres($c) => $body,
            Conn::Mysql($c) => $body,
        }
    };
    ($conn:expr, mut $c:ident => $body:expr) => {
        match $conn {
            Conn::Sqlite(mut $c) => $body,
            Conn::Postgres(mut $c) => $body,
            Conn::Mysql(mut $c) => $body,
        }
    };
}

/// Session settings for reading MLflow's MySQL database: `"key"` is an identifier
/// (ANSI_QUOTES), a dataset input's tags are not cut at 1 KiB when aggregated, and the server
/// waits while a slow target holds the reader back instead of dropping the connection.
const MYSQL_SESSION: &str = "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES'), \
     SESSION group_concat_max_len = 1073741824, SESSION net_write_timeout = 3600; \
     SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ";

/// An open MLflow database, inside a read-only snapshot.
pub struct Source {
    conn: Conn,
    pub schema: Schema,
    /// MLflow's alembic revision (`alembic_version.version_num`).
    pub revision: String,
}

impl Source {
    pub async fn open(uri: &SourceUri) -> anyhow::Result<Source> {
        let conn = match uri {
            SourceUri::Sqlite(path) => {
                if !path.is_file() {
                    anyhow::bail!("no such file: {}", path.display());
                }
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .busy_timeout(std::time::Duration::from_secs(30))
                    .disable_statement_logging();
                Conn::Sqlite(SqliteConnection::connect_with(&opts).await?)
            }
            SourceUri::Postgres(url) => {
                let opts: PgConnectOptions = url.parse()?;
                Conn::Postgres(PgConnection::connect_with(&opts.disable_statement_logging()).await?)
            }
            SourceUri::Mysql(url) => {
                let opts: MySqlConnectOptions = url.parse()?;
                Conn::Mysql(MySqlConnection::connect_with(&opts.disable_statement_logging()).await?)
            }
        };
        let dialect = match conn {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
            Conn::Mysql(_) => Dialect::Mysql,
        };
        let mut source = Source {
            schema: Schema {
                dialect,
                tables: BTreeMap::new(),
            },
            conn,
            revision: String::new(),
        };
        // One snapshot for every table read.
        match &mut source.conn {
            Conn::Sqlite(c) => {
                sqlx::raw_sql("BEGIN").execute(&mut *c).await?;
            }
            Conn::Postgres(c) => {
                sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *c)
                    .await?;
            }
            Conn::Mysql(c) => {
                sqlx::raw_sql(MYSQL_SESSION).execute(&mut *c).await?;
                // InnoDB's snapshot is taken here, not at the first read.
                sqlx::raw_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .execute(&mut *c)
                    .await?;
            }
        }
        source.schema.tables = source.columns().await?;
        if !source.schema.has_table("alembic_version") {
            anyhow::bail!(
                "this is not an MLflow tracking database: it has no alembic_version table \
                 (the database `mlflow server --backend-store-uri` points at has one)"
            );
        }
        for table in ["experiments", "runs"] {
            if !source.schema.has_table(table) {
                anyhow::bail!("this is not an MLflow tracking database: it has no {table} table");
            }
        }
        source.revision = source
            .scalar_text(&format!(
                "SELECT {} FROM alembic_version",
                source.schema.text("version_num")
            ))
            .await?
            .context("MLflow's alembic_version table is empty: the database was never migrated")?;
        source.check_workspaces().await?;
        Ok(source)
    }

    /// Every table's columns.
    async fn columns(&mut self) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let columns: Vec<(String, String)> = match &mut self.conn {
            Conn::Sqlite(c) => {
                sqlx::query_as(
                    "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
                )
                .fetch_all(&mut *c)
                .await?
            }
            Conn::Postgres(c) => {
                sqlx::query_as(
                    "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
                     FROM information_schema.columns WHERE table_schema = current_schema()",
                )
                .fetch_all(&mut *c)
                .await?
            }
            Conn::Mysql(c) => {
                sqlx::query_as(
                    "SELECT CAST(table_name AS CHAR CHARACTER SET utf8mb4), \
                     CAST(column_name AS CHAR CHARACTER SET utf8mb4) \
                     FROM information_schema.columns WHERE table_schema = DATABASE()",
                )
                .fetch_all(&mut *c)
                .await?
            }
        };
        for (table, column) in columns {
            out.entry(table.to_lowercase())
                .or_default()
                .insert(column.to_lowercase());
        }
        Ok(out)
    }

    async fn scalar_text(&mut self, sql: &str) -> anyhow::Result<Option<String>> {
        Ok(
            with_conn!(&mut self.conn, c => sqlx::query_scalar::<_, Option<String>>(sql)
            .fetch_optional(&mut *c)
            .await?
            .flatten()),
        )
    }

    async fn scalar_int(&mut self, sql: &str) -> anyhow::Result<i64> {
        Ok(with_conn!(&mut self.conn, c => {
            sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut *c).await?
        }))
    }

    /// `SELECT COUNT(*) FROM {from}`, as a 64-bit integer.
    async fn count(&mut self, from: &str) -> anyhow::Result<i64> {
        let sql = format!("SELECT {} FROM {from}", self.schema.int("COUNT(*)"));
        self.scalar_int(&sql).await
    }

    /// MLflow 3.x can keep several workspaces in one database; Weir has one namespace, so only
    /// the default workspace can be imported without names colliding.
    async fn check_workspaces(&mut self) -> anyhow::Result<()> {
        for table in ["experiments", "registered_models"] {
            if self.schema.has_column(table, "workspace") {
                let other = self
                    .count(&format!("{table} WHERE workspace <> 'default'"))
                    .await?;
                if other > 0 {
                    anyhow::bail!(
                        "MLflow's {table} table has {other} rows in workspaces other than \
                         'default'; Weir has no workspaces, so it imports single-workspace \
                         databases only"
                    );
                }
            }
        }
        Ok(())
    }

    /// Whether the database has an experiment with id 0 (MLflow's Default).
    pub async fn has_default_experiment(&mut self) -> anyhow::Result<bool> {
        Ok(self.count("experiments WHERE experiment_id = 0").await? > 0)
    }

    /// Stream the rows of `copy`'s SELECT into batches of `batch_size` and write each to
    /// `target` in its own transaction. Reading the next batch overlaps writing the last one;
    /// at most two batches wait in between, so memory stays bounded. Returns the rows copied.
    pub async fn copy_into(
        &mut self,
        copy: &TableCopy,
        target: &mut Target,
        batch_size: usize,
        progress: &mut Progress,
    ) -> anyhow::Result<u64> {
        let sql = (copy.select)(&self.schema);
        let (full, mut batches) = tokio::sync::mpsc::channel::<Batch>(2);
        let conn = &mut self.conn;
        let read = async move {
            let mut batch = Batch::new(copy.columns, batch_size);
            macro_rules! pump {
                ($conn:expr) => {{
                    let mut rows = sqlx::query(&sql).fetch(&mut *$conn);
                    while let Some(row) = rows
                        .try_next()
                        .await
                        .with_context(|| format!("reading MLflow's rows for {}", copy.target))?
                    {
                        batch.push_row(&row)?;
                        if batch.len() >= batch_size {
                            let next = Batch::new(copy.columns, batch_size);
                            if full
                                .send(std::mem::replace(&mut batch, next))
                                .await
                                .is_err()
                            {
                                // The writer stopped; its error is the one to report.
                                return Ok(());
                            }
                        }
                    }
                }};
            }
            with_conn!(conn, c => pump!(c));
            if batch.len() > 0 {
                // A failed send means the writer stopped with an error, reported below.
                let _ = full.send(batch).await;
            }
            anyhow::Ok(())
        };
        let write = async move {
            let mut total = 0u64;
            while let Some(mut batch) = batches.recv().await {
                total += target.write(copy, &mut batch).await?;
                progress.tick(total);
            }
            anyhow::Ok(total)
        };
        let ((), total) = tokio::try_join!(read, write)?;
        Ok(total)
    }

    /// Tables holding rows that no copy reads (traces, webhooks, jobs, ...): (table, rows).
    pub async fn other_tables(&mut self, read: &[&str]) -> anyhow::Result<Vec<(String, i64)>> {
        let names: Vec<String> = self
            .schema
            .tables
            .keys()
            .filter(|t| !read.contains(&t.as_str()))
            // Only plain identifiers are quoted into a statement (MySQL reads `"` as a quote
            // under ANSI_QUOTES).
            .filter(|t| t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for name in names {
            let n = self.count(&format!("\"{name}\"")).await?;
            if n > 0 {
                out.push((name, n));
            }
        }
        Ok(out)
    }

    pub async fn close(self) -> anyhow::Result<()> {
        with_conn!(self.conn, mut c => {
            sqlx::raw_sql("ROLLBACK").execute(&mut c).await?;
            c.close().await?;
        });
        Ok(())
    }
}
