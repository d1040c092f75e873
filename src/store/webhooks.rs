//! Registry webhooks and their outbox, on SQLite and PostgreSQL.
//!
//! A registry change and the deliveries it causes are written in one transaction
//! ([`SqlStore::enqueue_change`]), so an event is never lost nor sent for a change that rolled
//! back. Replicas then claim due deliveries with a lease ([`WebhookStore::claim_deliveries`]):
//! on PostgreSQL `FOR UPDATE SKIP LOCKED` keeps two replicas off the same row, on SQLite the
//! single writer does. Only the oldest pending delivery of each (webhook, registered model) is
//! claimable, so one model's events reach a receiver in the order they happened.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::*;
use crate::types::webhook::{
    Action, Change, Delivery, Entity, Event, Status, Webhook, WebhookChange, PROMPT_TAG,
};

fn webhook_not_found(id: &str) -> Error {
    Error::not_found(format!("Webhook with ID {id} not found."))
}

/// A delivery claimed for sending, with what the sender needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub delivery_id: String,
    pub webhook_id: String,
    pub event: String,
    pub payload: String,
    /// Attempts including this one.
    pub attempts: i64,
    pub created_at: i64,
    /// The webhook as it is now: URL, encrypted secret, and whether it still wants events.
    pub url: String,
    pub encrypted_secret: Option<String>,
    pub active: bool,
}

/// How one attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered {
        status: i64,
    },
    Retry {
        at: i64,
        status: Option<i64>,
        error: String,
    },
    Failed {
        status: Option<i64>,
        error: String,
    },
}

/// Webhook definitions, and the outbox of their deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, webhook_id: &str, change: &WebhookChange) -> Result<Webhook>;
    async fn get_webhook(&self, webhook_id: &str) -> Result<Webhook>;
    /// The Fernet token of a webhook's secret, if it has one.
    async fn webhook_secret(&self, webhook_id: &str) -> Result<Option<String>>;
    /// Newest first, as MLflow lists them.
    async fn list_webhooks(&self, max_results: i64, offset: i64) -> Result<Page<Webhook>>;
    async fn update_webhook(&self, webhook_id: &str, change: &WebhookChange) -> Result<Webhook>;
    /// Soft delete; pending deliveries to it are dropped.
    async fn delete_webhook(&self, webhook_id: &str) -> Result<()>;

    /// Lease up to `limit` due deliveries for `lease_ms` and count an attempt on each.
    async fn claim_deliveries(&self, lease_ms: i64, limit: i64) -> Result<Vec<Claimed>>;
    async fn finish_delivery(&self, id: i64, outcome: &Outcome) -> Result<()>;
    /// When the next pending delivery is due (epoch ms), if any.
    async fn next_delivery_due(&self) -> Result<Option<i64>>;
    /// Newest first; one model's or one webhook's when given.
    async fn recent_deliveries(
        &self,
        model_name: Option<&str>,
        webhook_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>>;
    /// Forget finished deliveries older than `before` (epoch ms).
    async fn prune_deliveries(&self, before: i64) -> Result<u64>;
}

const WH_COLUMNS: &str =
    "w.webhook_id, w.name, w.description, w.url, w.status, w.creation_time, w.last_updated_time";

fn webhook_from_row(r: &AnyRow) -> Result<Webhook> {
    let status: String = r.try_get(4)?;
    Ok(Webhook {
        webhook_id: r.try_get(0)?,
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        url: r.try_get(3)?,
        events: Vec::new(),
        status: if status == "DISABLED" {
            Status::Disabled
        } else {
            Status::Active
        },
        creation_timestamp: r.try_get(5)?,
        last_updated_timestamp: r.try_get(6)?,
    })
}

impl SqlStore {
    /// Fill in each webhook's events, in the order MLflow's table lists them.
    async fn attach_events(&self, hooks: &mut [Webhook]) -> Result<()> {
        for h in hooks.iter_mut() {
            let rows = sqlx::query(
                "SELECT entity, action FROM webhook_events WHERE webhook_id = $1 ORDER BY position",
            )
            .bind(h.webhook_id.clone())
            .fetch_all(&self.reader)
            .await?;
            let events: Vec<Event> = rows
                .iter()
                .filter_map(|r| {
                    let e: String = r.try_get(0).ok()?;
                    let a: String = r.try_get(1).ok()?;
                    Some(Event::new(
                        Entity::from_stored(&e)?,
                        Action::from_stored(&a)?,
                    ))
                })
                .collect();
            h.events = events;
        }
        Ok(())
    }

    async fn write_events(
        tx: &mut Transaction<'static, Any>,
        webhook_id: &str,
        events: &[Event],
    ) -> Result<()> {
        sqlx::query("DELETE FROM webhook_events WHERE webhook_id = $1")
            .bind(webhook_id)
            .execute(&mut **tx)
            .await?;
        let mut seen = std::collections::BTreeSet::new();
        for (position, e) in events.iter().filter(|e| seen.insert(**e)).enumerate() {
            sqlx::query(
                "INSERT INTO webhook_events (webhook_id, entity, action, position) VALUES ($1, $2, $3, $4)",
            )
            .bind(webhook_id)
            .bind(e.entity.as_str())
            .bind(e.action.as_str())
            .bind(position as i64)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Record the deliveries a registry change causes, inside the change's transaction. Costs
    /// one indexed lookup when no webhook listens.
    pub(super) async fn enqueue_change(
        &self,
        tx: &mut Transaction<'static, Any>,
        change: Change,
    ) -> Result<()> {
        let model_event = change.event;
        let prompt_event = Event::new(model_event.entity.for_prompt(), model_event.action);
        let rows = sqlx::query(
            "SELECT w.webhook_id, e.entity FROM webhooks w JOIN webhook_events e ON e.webhook_id = w.webhook_id \
             WHERE w.status = 'ACTIVE' AND w.deleted_time IS NULL AND e.action = $1 AND (e.entity = $2 OR e.entity = $3)",
        )
        .bind(model_event.action.as_str())
        .bind(model_event.entity.as_str())
        .bind(prompt_event.entity.as_str())
        .fetch_all(&mut **tx)
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        // Later changes of this model wait for this transaction: ids follow commit order.
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT name FROM registered_models WHERE name = $1 FOR UPDATE")
                .bind(change.model_name.clone())
                .execute(&mut **tx)
                .await?;
        }
        let is_prompt =
            sqlx::query("SELECT value FROM registered_model_tags WHERE name = $1 AND key = $2")
                .bind(change.model_name.clone())
                .bind(PROMPT_TAG)
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get::<String, _>(0))
                .transpose()?
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let change = if is_prompt {
            change.for_prompt()
        } else {
            change
        };
        let wanted = change.event.entity.as_str();
        let now = now_ms();
        let timestamp = crate::types::iso_timestamp(now);
        let body = change.body(&timestamp);
        for r in &rows {
            let entity: String = r.try_get(1)?;
            if entity != wanted {
                continue;
            }
            let webhook_id: String = r.try_get(0)?;
            sqlx::query(
                "INSERT INTO webhook_deliveries (delivery_id, webhook_id, entity, action, model_name, payload, state, \
                 attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(webhook_id)
            .bind(wanted)
            .bind(change.event.action.as_str())
            .bind(change.model_name.clone())
            .bind(body.clone())
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        self.webhook_signal.notify_one();
        Ok(())
    }
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_webhook(&self, webhook_id: &str, c: &WebhookChange) -> Result<Webhook> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO webhooks (webhook_id, name, description, url, secret, status, creation_time, last_updated_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(webhook_id)
        .bind(c.name.clone().unwrap_or_default())
        .bind(c.description.clone())
        .bind(c.url.clone().unwrap_or_default())
        .bind(c.encrypted_secret.clone())
        .bind(c.status.unwrap_or(Status::Active).as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Self::write_events(&mut tx, webhook_id, c.events.as_deref().unwrap_or_default()).await?;
        tx.commit().await?;
        self.get_webhook(webhook_id).await
    }

    async fn get_webhook(&self, webhook_id: &str) -> Result<Webhook> {
        let sql = format!(
            "SELECT {WH_COLUMNS} FROM webhooks w WHERE w.webhook_id = $1 AND w.deleted_time IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(webhook_id)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| webhook_not_found(webhook_id))?;
        let mut hooks = vec![webhook_from_row(&row)?];
        self.attach_events(&mut hooks).await?;
        hooks.pop().ok_or_else(|| webhook_not_found(webhook_id))
    }

    async fn webhook_secret(&self, webhook_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT secret FROM webhooks WHERE webhook_id = $1 AND deleted_time IS NULL",
        )
        .bind(webhook_id)
        .fetch_optional(&self.reader)
        .await?
        .ok_or_else(|| webhook_not_found(webhook_id))?;
        Ok(row.try_get(0)?)
    }

    async fn list_webhooks(&self, max_results: i64, offset: i64) -> Result<Page<Webhook>> {
        let sql = format!(
            "SELECT {WH_COLUMNS} FROM webhooks w WHERE w.deleted_time IS NULL \
             ORDER BY w.creation_time DESC, w.webhook_id LIMIT $1 OFFSET $2"
        );
        let rows = sqlx::query(&sql)
            .bind(max_results + 1)
            .bind(offset)
            .fetch_all(&self.reader)
            .await?;
        let mut hooks = rows
            .iter()
            .map(webhook_from_row)
            .collect::<Result<Vec<_>>>()?;
        self.attach_events(&mut hooks).await?;
        Ok(page(hooks, max_results, offset))
    }

    async fn update_webhook(&self, webhook_id: &str, c: &WebhookChange) -> Result<Webhook> {
        let mut tx = self.writer.begin().await?;
        let exists = sqlx::query(
            "SELECT last_updated_time FROM webhooks WHERE webhook_id = $1 AND deleted_time IS NULL",
        )
        .bind(webhook_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| webhook_not_found(webhook_id))?;
        let before: i64 = exists.try_get(0)?;
        // Strictly later than before, even within the same millisecond.
        let now = now_ms().max(before + 1);
        sqlx::query(
            "UPDATE webhooks SET name = COALESCE($1, name), description = COALESCE($2, description), \
             url = COALESCE($3, url), secret = COALESCE($4, secret), status = COALESCE($5, status), \
             last_updated_time = $6 WHERE webhook_id = $7",
        )
        .bind(c.name.clone())
        .bind(c.description.clone())
        .bind(c.url.clone())
        .bind(c.encrypted_secret.clone())
        .bind(c.status.map(|s| s.as_str()))
        .bind(now)
        .bind(webhook_id)
        .execute(&mut *tx)
        .await?;
        if let Some(events) = &c.events {
            Self::write_events(&mut tx, webhook_id, events).await?;
        }
        tx.commit().await?;
        self.get_webhook(webhook_id).await
    }

    async fn delete_webhook(&self, webhook_id: &str) -> Result<()> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query(
            "UPDATE webhooks SET deleted_time = $1, last_updated_time = $1 WHERE webhook_id = $2 AND deleted_time IS NULL",
        )
        .bind(now)
        .bind(webhook_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(webhook_not_found(webhook_id));
        }
        sqlx::query(
            "UPDATE webhook_deliveries SET state = 'failed', last_error = 'webhook deleted', finished_at = $1, \
             lease_until = NULL WHERE webhook_id = $2 AND state = 'pending'",
        )
        .bind(now)
        .bind(webhook_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_deliveries(&self, lease_ms: i64, limit: i64) -> Result<Vec<Claimed>> {
        let now = now_ms();
        let lock = match self.dialect {
            Dialect::Postgres => "FOR UPDATE OF d SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_until = $1, attempts = attempts + 1 WHERE id IN ( \
               SELECT d.id FROM webhook_deliveries d \
               WHERE d.state = 'pending' AND d.next_attempt_at <= $2 AND (d.lease_until IS NULL OR d.lease_until < $2) \
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = d.webhook_id \
                   AND p.model_name = d.model_name AND p.state = 'pending' AND p.id < d.id) \
               ORDER BY d.id LIMIT $3 {lock}) \
             RETURNING id, delivery_id, webhook_id, entity, action, payload, attempts, created_at"
        );
        let rows = sqlx::query(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.writer)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for r in &rows {
            let webhook_id: String = r.try_get(2)?;
            let hook = sqlx::query(
                "SELECT url, secret, status, deleted_time FROM webhooks WHERE webhook_id = $1",
            )
            .bind(webhook_id.clone())
            .fetch_optional(&self.writer)
            .await?;
            let (url, encrypted_secret, active) = match hook {
                Some(h) => (
                    h.try_get::<String, _>(0)?,
                    h.try_get::<Option<String>, _>(1)?,
                    h.try_get::<String, _>(2)? == "ACTIVE"
                        && h.try_get::<Option<i64>, _>(3)?.is_none(),
                ),
                None => (String::new(), None, false),
            };
            let entity: String = r.try_get(3)?;
            let action: String = r.try_get(4)?;
            claimed.push(Claimed {
                id: r.try_get(0)?,
                delivery_id: r.try_get(1)?,
                webhook_id,
                event: format!("{entity}.{action}"),
                payload: r.try_get(5)?,
                attempts: r.try_get(6)?,
                created_at: r.try_get(7)?,
                url,
                encrypted_secret,
                active,
            });
        }
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    async fn finish_delivery(&self, id: i64, outcome: &Outcome) -> Result<()> {
        let now = now_ms();
        let q = match outcome {
            Outcome::Delivered { status } => sqlx::query(
                "UPDATE webhook_deliveries SET state = 'delivered', last_status = $1, last_error = NULL, \
                 finished_at = $2, lease_until = NULL WHERE id = $3",
            )
            .bind(*status)
            .bind(now)
            .bind(id),
            Outcome::Retry { at, status, error } => sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = $1, last_status = $2, last_error = $3, \
                 lease_until = NULL WHERE id = $4",
            )
            .bind(*at)
            .bind(*status)
            .bind(error.clone())
            .bind(id),
            Outcome::Failed { status, error } => sqlx::query(
                "UPDATE webhook_deliveries SET state = 'failed', last_status = $1, last_error = $2, \
                 finished_at = $3, lease_until = NULL WHERE id = $4",
            )
            .bind(*status)
            .bind(error.clone())
            .bind(now)
            .bind(id),
        };
        q.execute(&self.writer).await?;
        Ok(())
    }

    async fn next_delivery_due(&self) -> Result<Option<i64>> {
        // Only the head of each (webhook, model) queue can be sent; the rows behind it wait.
        let row = sqlx::query(
            "SELECT MIN(CASE WHEN d.lease_until IS NOT NULL AND d.lease_until > d.next_attempt_at \
             THEN d.lease_until ELSE d.next_attempt_at END) FROM webhook_deliveries d \
             WHERE d.state = 'pending' AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p \
               WHERE p.webhook_id = d.webhook_id AND p.model_name = d.model_name \
               AND p.state = 'pending' AND p.id < d.id)",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?)
    }

    async fn recent_deliveries(
        &self,
        model_name: Option<&str>,
        webhook_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT d.delivery_id, d.webhook_id, w.name, d.entity, d.action, d.model_name, d.state, d.attempts, \
             d.last_status, d.last_error, d.created_at, d.finished_at \
             FROM webhook_deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id \
             WHERE ($1 IS NULL OR d.model_name = $1) AND ($2 IS NULL OR d.webhook_id = $2) \
             ORDER BY d.id DESC LIMIT $3",
        )
        .bind(model_name.map(str::to_owned))
        .bind(webhook_id.map(str::to_owned))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let entity: String = r.try_get(3)?;
                let action: String = r.try_get(4)?;
                Ok(Delivery {
                    delivery_id: r.try_get(0)?,
                    webhook_id: r.try_get(1)?,
                    webhook_name: r.try_get(2)?,
                    event: format!("{entity}.{action}"),
                    model_name: r.try_get(5)?,
                    state: r.try_get(6)?,
                    attempts: r.try_get(7)?,
                    last_status: r.try_get(8)?,
                    last_error: r.try_get(9)?,
                    created_at: r.try_get(10)?,
                    finished_at: r.try_get(11)?,
                })
            })
            .collect()
    }

    async fn prune_deliveries(&self, before: i64) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND finished_at < $1",
        )
        .bind(before)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }
}
