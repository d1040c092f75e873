//! Sending webhook deliveries: the signed HTTP request, and the loop every replica runs over
//! the outbox.
//!
//! Exactly one replica holds a delivery at a time (a lease as long as the request timeout plus
//! a margin); a replica that dies mid-send leaves its lease to expire and another sends again,
//! with the same `X-MLflow-Delivery-Id`, so receivers can drop the rare repeat.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Cipher, Settings, SECRET_UNREADABLE};
use crate::store::{Claimed, Outcome, WebhookStore};

/// Longest response body kept (test results, error notes).
const MAX_RESPONSE_BODY: usize = 64 * 1024;
/// Deliveries claimed per round.
const CLAIM_BATCH: i64 = 16;
/// How often a replica looks for work it was not told about (other replicas' events, retries).
const POLL: Duration = Duration::from_millis(250);
/// A claim outlives the longest send by this much (the database write after it).
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// How long a stopping server lets in-flight sends finish.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Finished deliveries are kept this long for inspection.
const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// What a receiver answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: i64,
    pub body: String,
}

/// The HTTP client for webhook sends: no redirects, no proxies, bounded time, and (unless
/// private addresses are allowed) a resolver that only yields public addresses.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    settings: Settings,
}

impl Sender {
    pub fn new(settings: &Settings) -> anyhow::Result<Sender> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("weir-webhooks/", env!("CARGO_PKG_VERSION")));
        if let Some(r) = super::url::resolver(&settings.targets) {
            b = b.dns_resolver(r);
        }
        Ok(Sender {
            client: b.build()?,
            settings: settings.clone(),
        })
    }

    /// POST `body` to `url`, signed when there is a secret. Checks the URL again first: the
    /// settings may have changed since it was saved.
    pub async fn send(
        &self,
        url: &str,
        body: &str,
        delivery_id: &str,
        secret: Option<&str>,
    ) -> Result<Answer, String> {
        super::url::check_shape(url, &self.settings.targets).map_err(|e| e.message)?;
        let timestamp = crate::types::now_ms() / 1000;
        let mut req = self
            .client
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-MLflow-Delivery-Id", delivery_id)
            .header("X-MLflow-Timestamp", timestamp.to_string());
        if let Some(secret) = secret {
            req = req.header(
                "X-MLflow-Signature",
                sign(secret, delivery_id, timestamp, body),
            );
        }
        let resp = req
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = i64::from(resp.status().as_u16());
        let mut kept = Vec::new();
        let mut resp = resp;
        while let Ok(Some(chunk)) = resp.chunk().await {
            let room = MAX_RESPONSE_BODY.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if kept.len() >= MAX_RESPONSE_BODY {
                break;
            }
        }
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&kept).into_owned(),
        })
    }
}

/// An error chain in one line (reqwest's top message alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// `v1,<base64 HMAC-SHA256 of "{delivery_id}.{timestamp}.{body}">`, as MLflow signs.
pub fn sign(secret: &str, delivery_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => return "v1,".to_owned(),
    };
    mac.update(format!("{delivery_id}.{timestamp}.{body}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{sig}")
}

struct DeliveryMetrics {
    attempts: IntCounterVec,
    latency: HistogramVec,
}

fn metrics() -> &'static DeliveryMetrics {
    static M: OnceLock<DeliveryMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let attempts = IntCounterVec::new(
            Opts::new(
                "weir_webhook_deliveries_total",
                "Webhook delivery attempts by event and outcome (delivered, retry, failed).",
            ),
            &["event", "outcome"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "weir_webhook_delivery_latency_seconds",
                "From the registry change to the receiver's 2xx, by event.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
            &["event"],
        )
        .expect("valid metric");
        let registry = &crate::telemetry::metrics().registry;
        // Registering twice (a second server in one test process) is harmless to skip.
        let _ = registry.register(Box::new(attempts.clone()));
        let _ = registry.register(Box::new(latency.clone()));
        DeliveryMetrics { attempts, latency }
    })
}

/// The outbox loop of one replica.
pub struct Deliverer {
    pub store: Arc<dyn WebhookStore>,
    pub sender: Sender,
    pub cipher: Cipher,
    pub settings: Settings,
    /// Woken by this replica's own registry changes, so they go out at once.
    pub wake: Arc<Notify>,
}

impl Deliverer {
    /// Runs until `stop` is cancelled; a failing database only slows it down.
    pub async fn run(self, stop: CancellationToken) {
        let _ = metrics();
        let lease_ms = (self.settings.request_timeout + LEASE_MARGIN).as_millis() as i64;
        let mut last_prune = 0i64;
        while !stop.is_cancelled() {
            let now = crate::types::now_ms();
            if now - last_prune > 3600 * 1000 {
                last_prune = now;
                if let Err(e) = self.store.prune_deliveries(now - RETENTION_MS).await {
                    tracing::warn!(error = %e.message, "pruning old webhook deliveries");
                }
            }
            let due = match self.store.next_delivery_due().await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e.message, "reading the webhook outbox");
                    self.pause(&stop, Duration::from_secs(1)).await;
                    continue;
                }
            };
            let wait = match due {
                Some(at) if at <= now => Duration::ZERO,
                Some(at) => Duration::from_millis((at - now) as u64).min(POLL),
                None => POLL,
            };
            if !wait.is_zero() {
                self.pause(&stop, wait).await;
                continue;
            }
            let claimed = match self.store.claim_deliveries(lease_ms, CLAIM_BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e.message, "claiming webhook deliveries");
                    self.pause(&stop, Duration::from_secs(1)).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                // Due rows held by another replica, or waiting behind an earlier one.
                self.pause(&stop, Duration::from_millis(50)).await;
                continue;
            }
            let sends = futures::future::join_all(claimed.into_iter().map(|c| self.deliver(c)));
            let grace = async {
                stop.cancelled().await;
                tokio::time::sleep(STOP_GRACE).await;
            };
            tokio::select! {
                _ = sends => {}
                _ = grace => {
                    // Their leases run out and a replica that is still up sends them again.
                    tracing::info!("stopping with webhook sends in flight");
                }
            }
        }
    }

    /// Sleep up to `d`, cut short by a local change or the stop.
    async fn pause(&self, stop: &CancellationToken, d: Duration) {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = self.wake.notified() => {
                // The change's transaction commits right after it signals.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            _ = tokio::time::sleep(d) => {}
        }
    }

    async fn deliver(&self, c: Claimed) {
        let outcome = self.attempt(&c).await;
        let label = match &outcome {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed { .. } => "failed",
        };
        let m = metrics();
        m.attempts
            .with_label_values(&[c.event.as_str(), label])
            .inc();
        match &outcome {
            Outcome::Delivered { .. } => {
                let secs = (crate::types::now_ms() - c.created_at).max(0) as f64 / 1000.0;
                m.latency
                    .with_label_values(&[c.event.as_str()])
                    .observe(secs);
            }
            Outcome::Retry { status, error, .. } | Outcome::Failed { status, error } => {
                tracing::warn!(
                    webhook_id = %c.webhook_id,
                    delivery_id = %c.delivery_id,
                    event = %c.event,
                    attempt = c.attempts,
                    status = ?status,
                    error = %error,
                    will_retry = matches!(outcome, Outcome::Retry { .. }),
                    "webhook delivery attempt failed"
                );
            }
        }
        if let Err(e) = self.store.finish_delivery(c.id, &outcome).await {
            // The lease runs out and another attempt follows, with the same delivery id.
            tracing::warn!(error = %e.message, delivery_id = %c.delivery_id, "recording a webhook delivery");
        }
    }

    async fn attempt(&self, c: &Claimed) -> Outcome {
        if !c.active {
            return Outcome::Failed {
                status: None,
                error: "the webhook was disabled or deleted".into(),
            };
        }
        let secret = match &c.encrypted_secret {
            Some(token) => match self.cipher.decrypt(token) {
                Some(s) => Some(s),
                None => {
                    return Outcome::Failed {
                        status: None,
                        error: SECRET_UNREADABLE.into(),
                    }
                }
            },
            None => None,
        };
        let sent = self
            .sender
            .send(&c.url, &c.payload, &c.delivery_id, secret.as_deref())
            .await;
        let retry = |status: Option<i64>, error: String| {
            if c.attempts >= self.settings.max_attempts {
                Outcome::Failed {
                    status,
                    error: format!("{error} (gave up after {} attempts)", c.attempts),
                }
            } else {
                Outcome::Retry {
                    at: crate::types::now_ms() + backoff_ms(c.attempts, &self.settings),
                    status,
                    error,
                }
            }
        };
        match sent {
            Ok(a) if (200..300).contains(&a.status) => Outcome::Delivered { status: a.status },
            Ok(a) if a.status == 429 || a.status >= 500 => {
                retry(Some(a.status), format!("HTTP {}", a.status))
            }
            Ok(a) => Outcome::Failed {
                status: Some(a.status),
                error: format!("HTTP {}", a.status),
            },
            Err(e) if e.contains("non-public IP") || e.contains("Invalid webhook URL") => {
                Outcome::Failed {
                    status: None,
                    error: e,
                }
            }
            Err(e) => retry(None, e),
        }
    }
}

/// 1 s, 2 s, 4 s ... capped, plus up to a quarter of jitter so replicas do not march together.
fn backoff_ms(attempts: i64, s: &Settings) -> i64 {
    let exp = 1000i64.saturating_mul(1i64 << (attempts.clamp(1, 20) - 1));
    let base = exp.min(s.max_backoff.as_millis() as i64);
    base + rand::random_range(0..=base / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_mlflow_scheme() {
        // python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b"k",
        //   b"d.1.{}",hashlib.sha256).digest()).decode())'
        assert_eq!(
            sign("k", "d", 1, "{}"),
            "v1,VyEhLEeQe35hAZVytN6hKx8QlHAXSiypREJikrCSjR4="
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = Settings::default();
        assert!((1000..=1250).contains(&backoff_ms(1, &s)));
        assert!((4000..=5000).contains(&backoff_ms(3, &s)));
        assert!((60_000..=75_000).contains(&backoff_ms(15, &s)));
    }
}
