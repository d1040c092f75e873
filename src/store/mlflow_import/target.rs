//! Writing into Weir's store, bypassing the domain: batches of rows inserted with bulk SQL,
//! one transaction per batch. PostgreSQL takes a batch as one `INSERT ... SELECT FROM UNNEST`
//! of column arrays; SQLite as multi-row `INSERT ... VALUES` statements (prepared once each).
//! Rows whose key already exists are left alone (`ON CONFLICT DO NOTHING`).

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use super::batch::{Batch, Col};
use super::tables::{TableCopy, Ty};

/// SQLite binds at most 32,766 parameters per statement; fewer rows per statement also keep
/// the statement text small.
const SQLITE_ROWS_PER_STATEMENT: usize = 500;
const SQLITE_MAX_PARAMS: usize = 32_766;

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Weir's store, open for the import.
pub struct Target {
    conn: Conn,
}

impl Target {
    /// Open Weir's store named by `uri` (already migrated by [`crate::store::SqlStore::open`]).
    pub async fn open(uri: &str) -> anyhow::Result<Target> {
        if let Some(path) = super::super::sqlite_path(uri) {
            if path == ":memory:" {
                anyhow::bail!("importing into an in-memory SQLite store would be lost at exit");
            }
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(std::time::Duration::from_secs(30))
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "MEMORY")
                .disable_statement_logging();
            return Ok(Target {
                conn: Conn::Sqlite(SqliteConnection::connect_with(&opts).await?),
            });
        }
        let rest = super::postgres_rest(uri)
            .ok_or_else(|| anyhow::anyhow!("unsupported backend store URI"))?;
        let opts: PgConnectOptions = format!("postgres://{rest}").parse()?;
        Ok(Target {
            conn: Conn::Postgres(
                PgConnection::connect_with(&opts.disable_statement_logging()).await?,
            ),
        })
    }

    async fn scalar(&mut self, sql: &str) -> anyhow::Result<i64> {
        Ok(match &mut self.conn {
            Conn::Sqlite(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut *c).await?,
            Conn::Postgres(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut *c).await?,
        })
    }

    async fn execute(&mut self, sql: &str) -> anyhow::Result<()> {
        match &mut self.conn {
            Conn::Sqlite(c) => {
                sqlx::raw_sql(sql).execute(&mut *c).await?;
            }
            Conn::Postgres(c) => {
                sqlx::raw_sql(sql).execute(&mut *c).await?;
            }
        }
        Ok(())
    }

    /// What the store already holds that an import could collide with: experiments other than
    /// the Default one, runs, registered models and logged models.
    pub async fn contents(&mut self) -> anyhow::Result<Vec<(&'static str, i64)>> {
        let mut out = Vec::new();
        for (what, sql) in [
            (
                "experiments",
                "SELECT CAST(COUNT(*) AS BIGINT) FROM experiments WHERE experiment_id <> 0",
            ),
            ("runs", "SELECT CAST(COUNT(*) AS BIGINT) FROM runs"),
            (
                "registered models",
                "SELECT CAST(COUNT(*) AS BIGINT) FROM registered_models",
            ),
            (
                "logged models",
                "SELECT CAST(COUNT(*) AS BIGINT) FROM logged_models",
            ),
        ] {
            let n = self.scalar(sql).await?;
            if n > 0 {
                out.push((what, n));
            }
        }
        Ok(out)
    }

    /// Drop the Default experiment `weir server` creates at start, so MLflow's (with its
    /// artifact location and tags) takes its place. Only called on an otherwise empty store.
    pub async fn drop_default_experiment(&mut self) -> anyhow::Result<()> {
        self.execute(
            "DELETE FROM experiment_tags WHERE experiment_id = 0; \
             DELETE FROM experiments WHERE experiment_id = 0",
        )
        .await
    }

    /// Write one batch in its own transaction, then empty it. Returns the rows it held.
    pub async fn write(&mut self, copy: &TableCopy, batch: &mut Batch) -> anyhow::Result<u64> {
        let n = batch.len();
        let result = match &mut self.conn {
            Conn::Sqlite(c) => write_sqlite(c, copy, batch).await,
            Conn::Postgres(c) => write_postgres(c, copy, batch).await,
        };
        batch.clear();
        result.map_err(|e| anyhow::anyhow!("writing Weir's {} table: {e}", copy.target))?;
        Ok(n as u64)
    }

    /// After the copy: new experiments get ids after the imported ones (PostgreSQL's sequence
    /// does not see explicit ids; SQLite's AUTOINCREMENT does), and the planner's statistics
    /// are brought up to date for the first searches. On PostgreSQL a VACUUM also marks the new
    /// pages all-visible, so a search's probes read the covering indexes alone from the start
    /// (until then each probe also visits the table) instead of after autovacuum comes by.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        if let Conn::Postgres(_) = self.conn {
            self.execute(
                "SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), \
                 (SELECT COALESCE(MAX(experiment_id), 0) + 1 FROM experiments), false)",
            )
            .await?;
            // On its own: VACUUM cannot run inside the implicit transaction of a multi-statement
            // query.
            self.execute("VACUUM (ANALYZE)").await?;
        } else {
            // Approximate statistics (a bounded sample per index): seconds, not minutes, at 1M runs.
            self.execute("PRAGMA analysis_limit = 1000; ANALYZE")
                .await?;
        }
        Ok(())
    }

    pub async fn close(self) -> anyhow::Result<()> {
        match self.conn {
            Conn::Sqlite(c) => c.close().await?,
            Conn::Postgres(c) => c.close().await?,
        }
        Ok(())
    }
}

fn column_list(copy: &TableCopy) -> String {
    copy.columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn write_sqlite(
    c: &mut SqliteConnection,
    copy: &TableCopy,
    batch: &mut Batch,
) -> Result<(), sqlx::Error> {
    let width = copy.columns.len().max(1);
    let per_statement = SQLITE_ROWS_PER_STATEMENT.min(SQLITE_MAX_PARAMS / width);
    let n = batch.len();
    let row = format!("({})", vec!["?"; width].join(", "));
    let head = format!(
        "INSERT INTO {} ({}) VALUES ",
        copy.target,
        column_list(copy)
    );
    let statement = |rows: usize| {
        let mut s = String::with_capacity(head.len() + rows * (row.len() + 2) + 24);
        s.push_str(&head);
        for i in 0..rows {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&row);
        }
        s.push_str(" ON CONFLICT DO NOTHING");
        s
    };
    let full = statement(per_statement);
    let mut tx = c.begin().await?;
    let mut start = 0;
    while start < n {
        let rows = per_statement.min(n - start);
        let partial;
        let sql = if rows == per_statement {
            &full
        } else {
            partial = statement(rows);
            &partial
        };
        let mut q = sqlx::query(sql);
        for r in start..start + rows {
            for col in batch.cols.iter_mut() {
                q = match col {
                    Col::Int(v) => q.bind(v[r]),
                    Col::Float(v) => q.bind(v[r]),
                    Col::Text(v) => q.bind(v[r].take()),
                };
            }
        }
        q.execute(&mut *tx).await?;
        start += rows;
    }
    tx.commit().await
}

async fn write_postgres(
    c: &mut PgConnection,
    copy: &TableCopy,
    batch: &mut Batch,
) -> Result<(), sqlx::Error> {
    let arrays: Vec<String> = copy
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| {
            let ty = match ty {
                Ty::Int => "int8",
                Ty::Float => "float8",
                Ty::Text => "text",
            };
            format!("${}::{ty}[]", i + 1)
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) ON CONFLICT DO NOTHING",
        copy.target,
        column_list(copy),
        arrays.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for col in batch.cols.iter_mut() {
        q = match col {
            Col::Int(v) => q.bind(std::mem::take(v)),
            Col::Float(v) => q.bind(std::mem::take(v)),
            Col::Text(v) => q.bind(std::mem::take(v)),
        };
    }
    let mut tx = c.begin().await?;
    q.execute(&mut *tx).await?;
    tx.commit().await
}
