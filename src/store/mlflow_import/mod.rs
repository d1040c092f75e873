//! `weir db import`: copy an MLflow tracking database (MLflow's SQLAlchemy schema, 2.9 to 3.17,
//! on SQLite, PostgreSQL or MySQL/MariaDB) into Weir's store, keeping every id and value.
//!
//! The copy goes table by table ([`tables::COPIES`], parents first): each MLflow table is read
//! in one streamed SELECT inside a read-only snapshot ([`source`]) and written to Weir's table
//! in batches, one transaction per batch, with bulk SQL ([`target`]). Memory holds one batch.
//!
//! What Weir keeps that MLflow does not is left empty: the alias history starts at the import
//! (MLflow kept none), webhooks and their outbox are not copied (they are listed, with traces
//! and the other tables Weir has no place for, in the summary).

mod batch;
mod source;
mod tables;
mod target;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use source::Source;
use target::Target;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Import into a store that already holds data (existing keys are kept).
    pub force: bool,
    /// Rows per batch (and per transaction).
    pub batch_size: usize,
}

/// Where MLflow's database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUri {
    Sqlite(PathBuf),
    /// A `postgres://` URL for sqlx.
    Postgres(String),
    /// A `mysql://` URL for sqlx (MySQL or MariaDB).
    Mysql(String),
}

/// The part after `scheme://` of a PostgreSQL URI in any of the spellings MLflow (SQLAlchemy)
/// accepts: `postgresql://`, `postgres://`, `postgresql+<driver>://`.
fn postgres_rest(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    let base = scheme.split('+').next().unwrap_or(scheme);
    matches!(base, "postgresql" | "postgres").then_some(rest)
}

/// sqlx's `mysql://` URL for the part after `scheme://` of a MySQL or MariaDB URI (SQLAlchemy's
/// `mysql://`, `mysql+pymysql://`, `mysql+mysqldb://`, `mariadb+<driver>://`, ...). Of the
/// drivers' query options only the Unix socket is kept: Weir reads text as utf8mb4 whatever
/// `charset` says, and connects without TLS, so an ssl option other than disabling it is refused
/// rather than ignored.
fn mysql_url(rest: &str) -> anyhow::Result<String> {
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "unix_socket" | "socket" => params.push(format!("socket={value}")),
            "ssl_mode" | "ssl-mode" | "sslmode" if value.eq_ignore_ascii_case("disabled") => {}
            "ssl_disabled" if matches!(value, "true" | "True" | "1") => {}
            key if key.starts_with("ssl") => anyhow::bail!(
                "importing from MySQL: TLS connections are not supported ({key}=... in --from); \
                 connect without TLS (e.g. through an SSH tunnel), or copy the database first"
            ),
            _ => {}
        }
    }
    // SQLAlchemy takes `user@/db?unix_socket=...`; a URL needs a host.
    let (authority, path) = main.split_once('/').unwrap_or((main, ""));
    let host_missing = authority.is_empty() || authority.ends_with('@');
    let mut url = format!(
        "mysql://{authority}{}/{path}",
        if host_missing { "localhost" } else { "" }
    );
    if !params.is_empty() {
        url = format!("{url}?{}", params.join("&"));
    }
    Ok(url)
}

impl SourceUri {
    /// Parse MLflow's `--backend-store-uri` forms.
    pub fn parse(uri: &str) -> anyhow::Result<SourceUri> {
        if let Some(rest) = postgres_rest(uri) {
            return Ok(SourceUri::Postgres(format!("postgres://{rest}")));
        }
        let scheme = uri.split_once("://").map(|(s, _)| s).unwrap_or("");
        let base = scheme.split('+').next().unwrap_or(scheme);
        match base {
            "sqlite" => match super::sqlite_path(&uri.replacen(scheme, "sqlite", 1)) {
                Some(p) if p != ":memory:" => Ok(SourceUri::Sqlite(PathBuf::from(p))),
                _ => anyhow::bail!("give the SQLite database as sqlite:///path/to/mlflow.db"),
            },
            "mysql" | "mariadb" => {
                let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or("");
                Ok(SourceUri::Mysql(mysql_url(rest)?))
            }
            "" => anyhow::bail!(
                "give MLflow's database as a URI: sqlite:///path/to/mlflow.db, \
                 postgresql://user:password@host:5432/db or mysql://user:password@host:3306/db"
            ),
            other => anyhow::bail!(
                "unsupported database URI scheme '{other}': use sqlite:///path/to/mlflow.db, \
                 postgresql://user:password@host:5432/db or mysql://user:password@host:3306/db"
            ),
        }
    }
}

/// Whether two URIs name one database (a SQLite file under two spellings included).
fn same_database(a: &SourceUri, b: &SourceUri) -> bool {
    match (a, b) {
        (SourceUri::Sqlite(a), SourceUri::Sqlite(b)) => {
            a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
        }
        _ => a == b,
    }
}

/// Logs a table's progress every few seconds.
pub struct Progress {
    table: &'static str,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(table: &'static str) -> Progress {
        let now = Instant::now();
        Progress {
            table,
            started: now,
            last: now,
        }
    }

    fn tick(&mut self, rows: u64) {
        if self.last.elapsed() >= Duration::from_secs(5) {
            self.last = Instant::now();
            tracing::info!(
                table = self.table,
                rows,
                rows_per_sec = rate(rows, self.started.elapsed()),
                "importing"
            );
        }
    }
}

fn rate(rows: u64, elapsed: Duration) -> u64 {
    (rows as f64 / elapsed.as_secs_f64().max(1e-3)) as u64
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    /// MLflow's alembic revision.
    pub revision: String,
    /// Weir's tables and the rows copied into each.
    pub tables: Vec<(&'static str, u64, Duration)>,
    /// MLflow's tables with rows Weir does not import: (table, rows).
    pub skipped_tables: Vec<(String, i64)>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.1).sum()
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "imported {} rows in {:.1}s ({} rows/s) from MLflow schema revision {}",
            self.rows(),
            self.elapsed.as_secs_f64(),
            rate(self.rows(), self.elapsed),
            self.revision
        )?;
        for (table, rows, took) in &self.tables {
            writeln!(f, "  {table}: {rows} rows in {:.1}s", took.as_secs_f64())?;
        }
        for (table, rows) in &self.skipped_tables {
            writeln!(f, "  not imported: MLflow's {table} ({rows} rows)")?;
        }
        Ok(())
    }
}

/// Copy MLflow's database `from` into Weir's store `to` (migrated first).
pub async fn import(from: &str, to: &str, opts: &ImportOptions) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let uri = SourceUri::parse(from)?;
    if SourceUri::parse(to).is_ok_and(|t| same_database(&t, &uri)) {
        anyhow::bail!(
            "--from and --backend-store-uri name the same database: Weir's store must be another one \
             (is MLFLOW_BACKEND_STORE_URI still set to MLflow's?)"
        );
    }
    let mut source = Source::open(&uri)
        .await
        .context("opening MLflow's database")?;
    tracing::info!(
        revision = source.revision,
        tables = source.schema.tables.len(),
        "reading MLflow's database"
    );

    // Weir's schema, as `weir db upgrade` makes it.
    let store = super::SqlStore::open(to).await?;
    let display = store.display_uri().to_owned();
    store.close().await;
    let mut target = Target::open(to)
        .await
        .with_context(|| format!("opening {display} for the import"))?;

    let held = target.contents().await?;
    if !held.is_empty() && !opts.force {
        let what: Vec<String> = held.iter().map(|(w, n)| format!("{n} {w}")).collect();
        anyhow::bail!(
            "{display} already holds {}; import into an empty store, or pass --force to add \
             MLflow's rows to it (rows whose id already exists are kept as they are)",
            what.join(", ")
        );
    }
    if held.is_empty() && source.has_default_experiment().await? {
        target.drop_default_experiment().await?;
    }

    let mut summary = Summary {
        revision: source.revision.clone(),
        ..Summary::default()
    };
    let batch_size = opts.batch_size.max(1);
    for copy in tables::COPIES {
        if let Some(missing) = copy.requires.iter().find(|t| !source.schema.has_table(t)) {
            tracing::info!(
                table = copy.target,
                "skipped: this MLflow version has no {missing} table"
            );
            continue;
        }
        let mut progress = Progress::new(copy.target);
        let rows = source
            .copy_into(copy, &mut target, batch_size, &mut progress)
            .await?;
        let took = progress.started.elapsed();
        tracing::info!(
            table = copy.target,
            rows,
            secs = format!("{:.1}", took.as_secs_f64()),
            rows_per_sec = rate(rows, took),
            "imported"
        );
        summary.tables.push((copy.target, rows, took));
    }
    summary.skipped_tables = source.other_tables(tables::READ).await?;
    source.close().await?;
    target.finish().await?;
    target.close().await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_uris() {
        assert_eq!(
            SourceUri::parse("sqlite:///mlflow.db").unwrap(),
            SourceUri::Sqlite("mlflow.db".into())
        );
        assert_eq!(
            SourceUri::parse("sqlite:////tmp/x/mlflow.db?timeout=5").unwrap(),
            SourceUri::Sqlite("/tmp/x/mlflow.db".into())
        );
        assert_eq!(
            SourceUri::parse("sqlite+pysqlite:////tmp/m.db").unwrap(),
            SourceUri::Sqlite("/tmp/m.db".into())
        );
        for pg in [
            "postgresql://u:p@h:5432/db",
            "postgres://u:p@h:5432/db",
            "postgresql+psycopg2://u:p@h:5432/db",
            "postgresql+psycopg://u:p@h:5432/db",
        ] {
            assert_eq!(
                SourceUri::parse(pg).unwrap(),
                SourceUri::Postgres("postgres://u:p@h:5432/db".into())
            );
        }
        for my in [
            "mysql://u:p@h:3306/db",
            "mysql+pymysql://u:p@h:3306/db",
            "mysql+mysqldb://u:p@h:3306/db?charset=utf8mb4",
            "mariadb://u:p@h:3306/db",
            "mariadb+pymysql://u:p@h:3306/db?charset=utf8&binary_prefix=true",
            "mysql+pymysql://u:p@h:3306/db?ssl_mode=DISABLED",
        ] {
            assert_eq!(
                SourceUri::parse(my).unwrap(),
                SourceUri::Mysql("mysql://u:p@h:3306/db".into()),
                "{my}"
            );
        }
        assert_eq!(
            SourceUri::parse("mysql+pymysql://root@/mlflow?unix_socket=/run/mysqld/mysqld.sock")
                .unwrap(),
            SourceUri::Mysql("mysql://root@localhost/mlflow?socket=/run/mysqld/mysqld.sock".into())
        );
        let tls = SourceUri::parse("mysql+pymysql://u@h/db?ssl_ca=/ca.pem").unwrap_err();
        assert!(tls.to_string().contains("TLS"), "{tls}");
        // Every URI parses as sqlx reads it.
        for my in [
            "mysql://u:p%40ss@h/db",
            "mariadb+pymysql://root@/mlflow?unix_socket=/tmp/m.sock",
        ] {
            let SourceUri::Mysql(url) = SourceUri::parse(my).unwrap() else {
                panic!("{my}")
            };
            url.parse::<sqlx::mysql::MySqlConnectOptions>().unwrap();
        }
        assert!(SourceUri::parse("sqlite://").is_err());
        assert!(SourceUri::parse("mlflow.db").is_err());
        assert!(SourceUri::parse("http://x").is_err());
        let pg = SourceUri::parse("postgresql+psycopg2://u@h/db").unwrap();
        assert!(same_database(
            &pg,
            &SourceUri::parse("postgresql://u@h/db").unwrap()
        ));
        assert!(!same_database(
            &pg,
            &SourceUri::parse("postgresql://u@h/other").unwrap()
        ));
    }

    #[test]
    fn every_copy_reads_only_tables_it_declares_read() {
        for copy in tables::COPIES {
            for t in copy.requires {
                assert!(tables::READ.contains(t), "{t}");
            }
        }
    }
}
