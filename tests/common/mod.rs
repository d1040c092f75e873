//! Shared test helpers, for every integration test: real stores on SQLite (temp dir) and
//! PostgreSQL (a fresh database per test, dropped afterwards), `weir server` / `weir models serve`
//! child processes, raw HTTP, and (in [`serving`]) the serving router and bundled models.
//!
//! `WEIR_TEST_BACKENDS=sqlite` (or `postgres`) runs the store-touching tests on one backend only,
//! e.g. on a machine without PostgreSQL.
#![allow(dead_code)]

pub mod serving;

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

    /// Both backends (or the ones `WEIR_TEST_BACKENDS` names), for conformance tests.
    pub async fn all() -> Vec<(&'static str, TestStore)> {
        let mut stores = Vec::new();
        for b in backends() {
            let t = match b {
                "postgres" => TestStore::postgres().await,
                _ => TestStore::sqlite().await,
            };
            stores.push((b, t));
        }
        stores
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(db) = self.pg_db {
            drop_pg_database(&db).await;
        }
    }
}

/// The backends store-touching tests run on: both, unless `WEIR_TEST_BACKENDS` says
/// `sqlite` or `postgres`.
pub fn backends() -> Vec<&'static str> {
    match std::env::var("WEIR_TEST_BACKENDS").as_deref() {
        Ok("sqlite") => vec!["sqlite"],
        Ok("postgres") | Ok("postgresql") => vec!["postgres"],
        _ => vec!["sqlite", "postgres"],
    }
}

/// Whether PostgreSQL tests run; when `WEIR_TEST_BACKENDS` leaves it out, a PostgreSQL-only
/// test says so and returns.
pub fn postgres_enabled(test: &str) -> bool {
    let on = backends().contains(&"postgres");
    if !on {
        eprintln!("{test}: skipped, WEIR_TEST_BACKENDS leaves PostgreSQL out");
    }
    on
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
    /// Every line the server logged so far.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
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
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on http://") {
                    let rest = &line[i + "listening on ".len()..];
                    let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = tx.send(url);
                }
                keep.lock().unwrap().push(line);
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
            logs,
        }
    }

    /// The process's resident set size and its peak so far, in KiB (from /proc).
    pub fn rss_kib(&self) -> (u64, u64) {
        proc_rss_kib(self.child.id())
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

/// Send raw bytes over one connection (no client-side URL normalisation or header checks) and
/// return (status, headers and body as text).
pub async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A `Connection: close` request with a JSON body and the given extra header lines.
pub fn http_request(method: &str, path: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        head.push_str("Host: localhost\r\n");
    }
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    format!(
        "{head}Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A `weir models serve` child process, killed on drop; its log lines are kept.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub dir: tempfile::TempDir,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServeProcess {
    /// Start `weir models serve <args> --port 0` with a private model cache.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> ServeProcess {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.args(["models", "serve", "--port", "0", "--model-cache"])
            .arg(dir.path().join("cache"))
            .args(args)
            .current_dir(dir.path())
            .env("WEIR_LOG", "info")
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .env_remove("MLFLOW_TRACKING_USERNAME")
            .env_remove("MLFLOW_TRACKING_PASSWORD")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn weir models serve");
        let stderr = child.stderr.take().unwrap();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("serving on http://") {
                    let url: String = line[i + "serving on ".len()..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    let _ = tx.send(url);
                }
                keep.lock().unwrap().push(line);
            }
        });
        let url = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("weir models serve did not start");
        let addr = url.trim_start_matches("http://").parse().expect("address");
        ServeProcess {
            child,
            url,
            addr,
            logs,
            dir,
        }
    }

    /// Resident set size and its peak so far, in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        proc_rss_kib(self.child.id())
    }

    /// CPU time (user + system) used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        n(11) + n(12)
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Wait until `/health` answers 200.
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{}/health", self.url)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("model never became ready:\n{}", self.log_text());
    }
}

/// A process's resident set size and its peak, in KiB (from /proc).
pub fn proc_rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
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
