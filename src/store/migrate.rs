//! Schema migrations, embedded in the binary, one list per backend.
//!
//! On PostgreSQL the whole check-and-apply runs under a session advisory lock, so two replicas
//! starting at once against one database apply each migration exactly once; the second waits,
//! then finds nothing to do. A migration whose first line is `-- weir: no-transaction` runs
//! statement by statement outside a transaction (`CREATE INDEX CONCURRENTLY` on large tables).

use sqlx::{Connection, Executor, Row};

use super::{Dialect, SqlStore};

/// `(version, description, sql)` per backend, in order.
type Migration = (i64, &'static str, &'static str);

const SQLITE: &[Migration] = &[
    (
        1,
        "tracking",
        include_str!("../../migrations/sqlite/0001_tracking.sql"),
    ),
    (
        2,
        "registry",
        include_str!("../../migrations/sqlite/0002_registry.sql"),
    ),
    (
        3,
        "auth",
        include_str!("../../migrations/sqlite/0003_auth.sql"),
    ),
    (
        4,
        "auth tokens",
        include_str!("../../migrations/sqlite/0004_auth_tokens.sql"),
    ),
    (
        5,
        "webhooks",
        include_str!("../../migrations/sqlite/0005_webhooks.sql"),
    ),
    (
        6,
        "search indexes",
        include_str!("../../migrations/sqlite/0006_search_indexes.sql"),
    ),
    (
        7,
        "param walk",
        include_str!("../../migrations/sqlite/0007_param_walk.sql"),
    ),
];

const POSTGRES: &[Migration] = &[
    (
        1,
        "tracking",
        include_str!("../../migrations/postgres/0001_tracking.sql"),
    ),
    (
        2,
        "registry",
        include_str!("../../migrations/postgres/0002_registry.sql"),
    ),
    (
        3,
        "auth",
        include_str!("../../migrations/postgres/0003_auth.sql"),
    ),
    (
        4,
        "auth tokens",
        include_str!("../../migrations/postgres/0004_auth_tokens.sql"),
    ),
    (
        5,
        "webhooks",
        include_str!("../../migrations/postgres/0005_webhooks.sql"),
    ),
    (
        6,
        "search indexes",
        include_str!("../../migrations/postgres/0006_search_indexes.sql"),
    ),
    (
        7,
        "covering param and tag indexes",
        include_str!("../../migrations/postgres/0007_covering_kv_indexes.sql"),
    ),
    (
        8,
        "param walk",
        include_str!("../../migrations/postgres/0008_param_walk.sql"),
    ),
    (
        9,
        "tag prefix index",
        include_str!("../../migrations/postgres/0009_tag_prefix_index.sql"),
    ),
];

/// First line of a migration whose statements must run outside a transaction, one at a time
/// (PostgreSQL's `CREATE INDEX CONCURRENTLY`, which builds without blocking writes). Each
/// statement must be safe to run again: the migration is recorded only after the last.
const NO_TRANSACTION: &str = "-- weir: no-transaction";

/// Arbitrary constant identifying Weir's migration lock among PostgreSQL advisory locks.
const PG_LOCK_KEY: i64 = 0x5745_4952_4d49_4752; // "WEIRMIGR"

pub(super) async fn run(store: &SqlStore) -> anyhow::Result<()> {
    let migrations = match store.dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    let mut conn = store.writer.acquire().await?;
    if store.dialect == Dialect::Postgres {
        // Polled, not waited for: a session blocked in pg_advisory_lock holds a snapshot, which
        // `CREATE INDEX CONCURRENTLY` in the lock holder's migration would wait for in turn.
        loop {
            let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
                .bind(PG_LOCK_KEY)
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
            if got {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let result = apply(&mut conn, migrations).await;
    if store.dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection, migrations: &[Migration]) -> anyhow::Result<()> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS weir_schema_migrations (\
            version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM weir_schema_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
    if let Some(newest) = applied.iter().max() {
        if *newest > migrations.last().map(|m| m.0).unwrap_or(0) {
            anyhow::bail!(
                "the database schema (version {newest}) is newer than this Weir binary knows; upgrade Weir"
            );
        }
    }
    for (version, description, sql) in migrations {
        if applied.contains(version) {
            continue;
        }
        if sql.starts_with(NO_TRANSACTION) {
            for statement in statements(sql) {
                sqlx::raw_sql(&statement)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("migration {version} ({description}) failed: {e}")
                    })?;
            }
            sqlx::query(
                "INSERT INTO weir_schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(*version)
            .bind(*description)
            .bind(super::now_ms())
            .execute(&mut *conn)
            .await?;
            tracing::info!(version, description, "applied schema migration");
            continue;
        }
        let mut tx = conn.begin().await?;
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| anyhow::anyhow!("migration {version} ({description}) failed: {e}"))?;
        sqlx::query(
            "INSERT INTO weir_schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(*version)
        .bind(*description)
        .bind(super::now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version, description, "applied schema migration");
    }
    Ok(())
}

/// The statements of a migration file: split at `;` ending a line, comment lines dropped.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push(' ');
        if line.ends_with(';') {
            out.push(std::mem::take(&mut current).trim().to_owned());
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_transaction_migrations_split_into_statements() {
        let sql = super::POSTGRES
            .iter()
            .find(|m| m.2.starts_with(super::NO_TRANSACTION))
            .map(|m| m.2)
            .unwrap_or_default();
        let s = super::statements(sql);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s.iter().all(|x| x.ends_with(';') && !x.contains("--")));
        assert!(s[1].starts_with("CREATE INDEX CONCURRENTLY"));
    }
}
