//! Shared test helpers: real stores on SQLite (temp dir) and PostgreSQL (a fresh database per
//! test, dropped afterwards).
#![allow(dead_code)]

use std::sync::Arc;

use sqlx::Connection;
use weir::store::SqlStore;

/// Admin URL of the PostgreSQL server the tests use.
pub fn pg_admin_url() -> String {
    std::env::var("WEIR_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A store under test and whatever must be cleaned up after it.
pub struct TestStore {
    pub store: Arc<SqlStore>,
    pub uri: String,
    pg_db: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let uri = format!("sqlite:///{}", dir.path().join("mlflow.db").display());
        let store = Arc::new(SqlStore::open(&uri).await.expect("open sqlite"));
        TestStore {
            store,
            uri,
            pg_db: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestStore {
        let (uri, db) = create_pg_database().await;
        let store = Arc::new(SqlStore::open(&uri).await.expect("open postgres"));
        TestStore {
            store,
            uri,
            pg_db: Some(db),
            _dir: None,
        }
    }

    /// Both backends, for conformance tests.
    pub async fn all() -> Vec<(&'static str, TestStore)> {
        vec![
            ("sqlite", TestStore::sqlite().await),
            ("postgres", TestStore::postgres().await),
        ]
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(db) = self.pg_db {
            drop_pg_database(&db).await;
        }
    }
}

/// Create an empty database `weir_test_<random>`; returns its URI and name.
pub async fn create_pg_database() -> (String, String) {
    let db = format!("weir_test_{}", uuid::Uuid::new_v4().simple());
    let admin = pg_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL must be running for the tests (set WEIR_TEST_PG_URL)");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut conn)
        .await
        .expect("create db");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin.clone());
    (
        format!("{}/{db}", base.replacen("postgres://", "postgresql://", 1)),
        db,
    )
}

pub async fn drop_pg_database(db: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

/// A `weir` child process, killed on drop.
pub struct ServerProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Start `weir server --port 0 <args>` in a fresh temp dir (SQLite and artifacts inside it
    /// unless `args` say otherwise) and wait for the address it logs.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite:///{}", dir.path().join("mlflow.db").display());
        let art = dir.path().join("artifacts");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.args([
            "server",
            "--port",
            "0",
            "--backend-store-uri",
            &db,
            "--artifacts-destination",
        ])
        .arg(&art)
        .args(args)
        .current_dir(dir.path())
        .env("WEIR_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn weir");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on http://") {
                    let rest = &line[i + "listening on ".len()..];
                    let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = tx.send(url);
                }
            }
        });
        let url = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("server did not start");
        let addr = url.trim_start_matches("http://").parse().expect("address");
        ServerProcess {
            child,
            url,
            addr,
            dir,
        }
    }

    /// The process's resident set size and its peak so far, in KiB (from /proc).
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}
