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
