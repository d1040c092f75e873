//! Registry webhooks: MLflow's webhook API (validation, secrets at rest) and the delivery of
//! events from the durable outbox the store fills in the same transaction as each change.
//!
//! - [`Webhooks`] is what the API layer calls: create, list, update, delete, test.
//! - [`deliver`] runs in every `weir server` replica: it claims due deliveries (a lease per row,
//!   `SKIP LOCKED` on PostgreSQL), signs and sends them, and retries with backoff.
//! - [`url`] keeps sends on allowed schemes and public addresses.

pub mod deliver;
pub mod url;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::WebhookStore;
use crate::types::webhook::{Event, Status, Webhook, WebhookChange};
use crate::types::Page;

/// Everything configurable about webhooks (MLflow's environment variables, and Weir's retry
/// bound).
#[derive(Debug, Clone)]
pub struct Settings {
    pub targets: url::Targets,
    /// Longest one send may take (`MLFLOW_WEBHOOK_REQUEST_TIMEOUT`).
    pub request_timeout: Duration,
    /// Attempts per delivery before it is marked failed.
    pub max_attempts: i64,
    /// Cap on the exponential backoff between attempts.
    pub max_backoff: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            targets: url::Targets {
                allowed_schemes: vec!["https".into()],
                allow_private_ips: false,
            },
            request_timeout: Duration::from_secs(30),
            max_attempts: 12,
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Encrypts webhook secrets at rest with a Fernet key, as MLflow does, so replicas sharing
/// `MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY` read each other's secrets.
#[derive(Clone)]
pub struct Cipher {
    fernet: Arc<fernet::Fernet>,
    /// A key made up at start because none was configured: secrets die with the process.
    pub ephemeral: bool,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cipher")
            .field("ephemeral", &self.ephemeral)
            .finish_non_exhaustive()
    }
}

impl Cipher {
    /// From the configured key, or a random one (MLflow's behaviour) when none is set.
    pub fn new(key: Option<&str>) -> anyhow::Result<Cipher> {
        match key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(k) => {
                let fernet = fernet::Fernet::new(k).ok_or_else(|| {
                    anyhow::anyhow!(
                        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY is not a Fernet key (32 bytes, url-safe base64)"
                    )
                })?;
                Ok(Cipher {
                    fernet: Arc::new(fernet),
                    ephemeral: false,
                })
            }
            None => {
                let key = fernet::Fernet::generate_key();
                let fernet = fernet::Fernet::new(&key)
                    .ok_or_else(|| anyhow::anyhow!("generating a webhook secret key"))?;
                Ok(Cipher {
                    fernet: Arc::new(fernet),
                    ephemeral: true,
                })
            }
        }
    }

    pub fn encrypt(&self, secret: &str) -> String {
        self.fernet.encrypt(secret.as_bytes())
    }

    pub fn decrypt(&self, token: &str) -> Option<String> {
        let bytes = self.fernet.decrypt(token).ok()?;
        String::from_utf8(bytes).ok()
    }
}

/// What a test send reports (MLflow's `WebhookTestResult`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestResult {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// A webhook as a client asks to create or change it, before validation.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<Value>>,
    pub secret: Option<String>,
    pub status: Option<Value>,
}

/// The webhook API's domain: validation, secrets, and the test send.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn WebhookStore>,
    pub settings: Settings,
    cipher: Cipher,
    sender: deliver::Sender,
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        settings: Settings,
        cipher: Cipher,
    ) -> anyhow::Result<Webhooks> {
        let sender = deliver::Sender::new(&settings)?;
        Ok(Webhooks {
            store,
            settings,
            cipher,
            sender,
        })
    }

    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    pub fn sender(&self) -> &deliver::Sender {
        &self.sender
    }

    pub fn store(&self) -> &Arc<dyn WebhookStore> {
        &self.store
    }

    async fn validate(&self, r: Request) -> Result<WebhookChange> {
        if let Some(name) = &r.name {
            check_name(name)?;
        }
        if let Some(url) = &r.url {
            url::check(url, &self.settings.targets).await?;
        }
        let events = match r.events {
            None => None,
            Some(list) => Some(parse_events(&list)?),
        };
        let status = match &r.status {
            None => None,
            Some(v) => Some(Status::parse(v).ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid webhook status {v}: expected ACTIVE or DISABLED"
                ))
            })?),
        };
        if let Some(s) = &r.secret {
            if s.len() > 4096 {
                return Err(Error::invalid("Webhook secret is longer than 4096 bytes"));
            }
        }
        if let Some(d) = &r.description {
            if d.len() > 65_536 {
                return Err(Error::invalid(
                    "Webhook description is longer than 65536 bytes",
                ));
            }
        }
        Ok(WebhookChange {
            name: r.name,
            description: r.description,
            url: r.url,
            events,
            encrypted_secret: r.secret.map(|s| self.cipher.encrypt(&s)),
            status,
        })
    }

    pub async fn create(&self, r: Request) -> Result<Webhook> {
        if r.name.is_none() {
            return Err(Error::missing("name"));
        }
        if r.url.is_none() {
            return Err(Error::missing("url"));
        }
        if r.events.as_ref().is_none_or(|e| e.is_empty()) {
            return Err(Error::invalid(
                "Webhook events must be a non-empty list of WebhookEvent objects: [].",
            ));
        }
        let change = self.validate(r).await?;
        let id = uuid::Uuid::new_v4().to_string();
        self.store.create_webhook(&id, &change).await
    }

    pub async fn get(&self, id: &str) -> Result<Webhook> {
        self.store.get_webhook(id).await
    }

    pub async fn list(
        &self,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<Page<Webhook>> {
        let max = max_results.unwrap_or(100);
        if !(1..=1000).contains(&max) {
            return Err(Error::invalid("max_results must be between 1 and 1000."));
        }
        let offset = crate::search::decode_page_token(page_token)?;
        self.store
            .list_webhooks(max, i64::try_from(offset).unwrap_or(i64::MAX))
            .await
    }

    pub async fn update(&self, id: &str, r: Request) -> Result<Webhook> {
        // Not found wins over a bad field, as in MLflow.
        self.store.get_webhook(id).await?;
        if r.events.as_ref().is_some_and(|e| e.is_empty()) {
            return Err(Error::invalid(
                "Webhook events must be a non-empty list of WebhookEvent objects: [].",
            ));
        }
        let change = self.validate(r).await?;
        self.store.update_webhook(id, &change).await
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        self.store.delete_webhook(id).await
    }

    /// Send an example payload of `event` (default: the webhook's first event) now.
    pub async fn test(&self, id: &str, event: Option<&Value>) -> Result<TestResult> {
        let hook = self.store.get_webhook(id).await?;
        let event = match event {
            Some(v) => parse_events(std::slice::from_ref(v))?
                .pop()
                .ok_or_else(|| Error::invalid("event is empty"))?,
            None => *hook
                .events
                .first()
                .ok_or_else(|| Error::invalid("The webhook has no events"))?,
        };
        let secret = match self.store.webhook_secret(id).await? {
            Some(token) => match self.cipher.decrypt(&token) {
                Some(s) => Some(s),
                None => {
                    return Ok(TestResult {
                        success: false,
                        response_status: None,
                        response_body: None,
                        error_message: Some(SECRET_UNREADABLE.into()),
                    })
                }
            },
            None => None,
        };
        let body = serde_json::json!({
            "entity": event.entity.as_str(),
            "action": event.action.as_str(),
            "timestamp": crate::types::iso_timestamp(crate::types::now_ms()),
            "data": event.example_data(),
        })
        .to_string();
        let delivery_id = uuid::Uuid::new_v4().to_string();
        let sent = self
            .sender
            .send(&hook.url, &body, &delivery_id, secret.as_deref())
            .await;
        Ok(match sent {
            Ok(r) => TestResult {
                success: r.status < 400,
                response_status: Some(r.status),
                response_body: Some(r.body),
                error_message: None,
            },
            Err(e) => TestResult {
                success: false,
                response_status: None,
                response_body: None,
                error_message: Some(format!("Failed to test webhook: {e}")),
            },
        })
    }
}

pub(crate) const SECRET_UNREADABLE: &str = "the webhook's secret cannot be decrypted: \
     MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY differs from the key it was saved with";

/// MLflow's name rule: 1 to 63 letters, digits, `.`, `_`, `-`, starting and ending with a letter
/// or digit.
fn check_name(name: &str) -> Result<()> {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let ok = (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| alnum(c) || matches!(c, '.' | '_' | '-'))
        && name.chars().next().is_some_and(alnum)
        && name.chars().last().is_some_and(alnum);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "Webhook name {name:?} is invalid. It must start and end with a letter or digit, \
             be less than 63 characters long, and contain only letters, digits, dots (.), \
             underscores (_), and hyphens (-)."
        )))
    }
}

/// Events in their REST form (`{"entity": "MODEL_VERSION", "action": "CREATED"}`), checked
/// against MLflow's table of valid pairs.
fn parse_events(list: &[Value]) -> Result<Vec<Event>> {
    if list.len() > 64 {
        return Err(Error::invalid("A webhook subscribes to at most 64 events"));
    }
    list.iter()
        .map(|v| {
            let field = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
            let entity = crate::types::webhook::Entity::parse(&field("entity"))
                .ok_or_else(|| Error::invalid(format!("Invalid webhook event entity in {v}")))?;
            let action = crate::types::webhook::Action::parse(&field("action"))
                .ok_or_else(|| Error::invalid(format!("Invalid webhook event action in {v}")))?;
            let e = Event::new(entity, action);
            if e.is_valid() {
                Ok(e)
            } else {
                Err(Error::invalid(format!(
                    "Invalid action '{}' for entity '{}'.",
                    action.as_str(),
                    entity.as_str()
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_mlflow_rule() {
        assert!(check_name("deploy-on-champion").is_ok());
        assert!(check_name("a.b_c").is_ok());
        assert!(check_name("-x").is_err());
        assert!(check_name("x-").is_err());
        assert!(check_name("").is_err());
        assert!(check_name(&"a".repeat(64)).is_err());
        assert!(check_name("has space").is_err());
    }

    #[test]
    fn events_are_checked() {
        let ok = parse_events(&[json!({"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"})]);
        assert_eq!(ok.unwrap().len(), 1);
        let bad = parse_events(&[json!({"entity": "MODEL_VERSION", "action": "DELETED"})]);
        assert!(bad.unwrap_err().message.contains("Invalid action"));
        assert!(parse_events(&[json!({"entity": "NOPE", "action": "CREATED"})]).is_err());
        assert!(parse_events(&[json!("MODEL_VERSION")]).is_err());
    }

    #[test]
    fn secrets_round_trip_and_need_the_same_key() {
        let key = fernet::Fernet::generate_key();
        let a = Cipher::new(Some(&key)).unwrap();
        let token = a.encrypt("s3cret");
        assert_ne!(token, "s3cret");
        assert_eq!(
            Cipher::new(Some(&key)).unwrap().decrypt(&token).as_deref(),
            Some("s3cret")
        );
        assert_eq!(Cipher::new(None).unwrap().decrypt(&token), None);
        assert!(Cipher::new(Some("not a key")).is_err());
    }
}
