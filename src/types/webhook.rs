//! Registry webhooks as MLflow 3.3+ names them: entities, actions, the events a webhook
//! subscribes to, and the payloads sent for each event.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::KeyValue;

/// What changed. The wire (REST) form is the proto enum name (`MODEL_VERSION`); payloads and
/// storage use MLflow's lower-case value (`model_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    RegisteredModel,
    ModelVersion,
    ModelVersionTag,
    ModelVersionAlias,
    Prompt,
    PromptVersion,
    PromptTag,
    PromptVersionTag,
    PromptAlias,
    BudgetPolicy,
}

/// What happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Created,
    Updated,
    Deleted,
    Set,
    Exceeded,
}

const ENTITIES: &[(Entity, &str, i64)] = &[
    (Entity::RegisteredModel, "registered_model", 1),
    (Entity::ModelVersion, "model_version", 2),
    (Entity::ModelVersionTag, "model_version_tag", 3),
    (Entity::ModelVersionAlias, "model_version_alias", 4),
    (Entity::Prompt, "prompt", 5),
    (Entity::PromptVersion, "prompt_version", 6),
    (Entity::PromptTag, "prompt_tag", 7),
    (Entity::PromptVersionTag, "prompt_version_tag", 8),
    (Entity::PromptAlias, "prompt_alias", 9),
    (Entity::BudgetPolicy, "budget_policy", 10),
];

const ACTIONS: &[(Action, &str, i64)] = &[
    (Action::Created, "created", 1),
    (Action::Updated, "updated", 2),
    (Action::Deleted, "deleted", 3),
    (Action::Set, "set", 4),
    (Action::Exceeded, "exceeded", 5),
];

/// Parses a proto enum from its JSON forms: the name in either case, or the number.
fn parse_enum<T: Copy>(table: &[(T, &str, i64)], v: &Value) -> Option<T> {
    match v {
        Value::String(s) => table
            .iter()
            .find(|(_, name, _)| name.eq_ignore_ascii_case(s))
            .map(|e| e.0),
        Value::Number(n) => {
            let n = n.as_i64()?;
            table.iter().find(|e| e.2 == n).map(|e| e.0)
        }
        _ => None,
    }
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        ENTITIES.iter().find(|e| e.0 == self).map_or("", |e| e.1)
    }
    pub fn parse(v: &Value) -> Option<Entity> {
        parse_enum(ENTITIES, v)
    }
    pub fn from_stored(s: &str) -> Option<Entity> {
        ENTITIES.iter().find(|e| e.1 == s).map(|e| e.0)
    }
    /// The prompt counterpart of a registered-model entity (prompts are registered models
    /// tagged `mlflow.prompt.is_prompt`).
    pub fn for_prompt(self) -> Entity {
        match self {
            Entity::RegisteredModel => Entity::Prompt,
            Entity::ModelVersion => Entity::PromptVersion,
            Entity::ModelVersionTag => Entity::PromptVersionTag,
            Entity::ModelVersionAlias => Entity::PromptAlias,
            other => other,
        }
    }
}

impl Action {
    pub fn as_str(self) -> &'static str {
        ACTIONS.iter().find(|e| e.0 == self).map_or("", |e| e.1)
    }
    pub fn parse(v: &Value) -> Option<Action> {
        parse_enum(ACTIONS, v)
    }
    pub fn from_stored(s: &str) -> Option<Action> {
        ACTIONS.iter().find(|e| e.1 == s).map(|e| e.0)
    }
}

/// One subscribable event: an entity and an action MLflow allows together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Event {
    pub entity: Entity,
    pub action: Action,
}

impl Event {
    pub const fn new(entity: Entity, action: Action) -> Event {
        Event { entity, action }
    }

    /// MLflow's table of valid combinations.
    pub fn is_valid(self) -> bool {
        use Action::*;
        use Entity::*;
        matches!(
            (self.entity, self.action),
            (
                RegisteredModel | ModelVersion | Prompt | PromptVersion,
                Created
            ) | (
                ModelVersionTag | PromptTag | PromptVersionTag,
                Set | Deleted
            ) | (ModelVersionAlias | PromptAlias, Created | Deleted)
                | (BudgetPolicy, Exceeded)
        )
    }

    /// `model_version.created`, as MLflow writes an event in logs and docs.
    pub fn label(self) -> String {
        format!("{}.{}", self.entity.as_str(), self.action.as_str())
    }

    /// The event's REST form: `{"entity": "MODEL_VERSION", "action": "CREATED"}`.
    pub fn to_wire(self) -> Value {
        json!({
            "entity": self.entity.as_str().to_ascii_uppercase(),
            "action": self.action.as_str().to_ascii_uppercase(),
        })
    }

    /// An example payload, sent by the test endpoint (MLflow's `example()` of each payload).
    pub fn example_data(self) -> Value {
        let tags = json!({"example_key": "example_value"});
        let (model, prompt) = ("example_model", "example_prompt");
        match (self.entity, self.action) {
            (Entity::RegisteredModel, _) => {
                json!({"name": model, "tags": tags, "description": "An example registered model"})
            }
            (Entity::ModelVersion, _) => json!({
                "name": model, "version": "1", "source": "models:/123",
                "run_id": "abcd1234abcd5678", "tags": tags,
                "description": "An example model version",
            }),
            (Entity::ModelVersionTag, Action::Set) => json!({
                "name": model, "version": "1", "key": "example_key", "value": "example_value",
            }),
            (Entity::ModelVersionTag, _) => {
                json!({"name": model, "version": "1", "key": "example_key"})
            }
            (Entity::ModelVersionAlias, Action::Created) => {
                json!({"name": model, "alias": "example_alias", "version": "1"})
            }
            (Entity::ModelVersionAlias, _) => json!({"name": model, "alias": "example_alias"}),
            (Entity::Prompt, _) => {
                json!({"name": prompt, "tags": tags, "description": "An example prompt"})
            }
            (Entity::PromptVersion, _) => json!({
                "name": prompt, "version": "1", "template": "Hello {{name}}!",
                "tags": tags, "description": "An example prompt version",
            }),
            (Entity::PromptTag, Action::Set) => {
                json!({"name": prompt, "key": "example_key", "value": "example_value"})
            }
            (Entity::PromptTag, _) => json!({"name": prompt, "key": "example_key"}),
            (Entity::PromptVersionTag, Action::Set) => json!({
                "name": prompt, "version": "1", "key": "example_key", "value": "example_value",
            }),
            (Entity::PromptVersionTag, _) => {
                json!({"name": prompt, "version": "1", "key": "example_key"})
            }
            (Entity::PromptAlias, Action::Created) => {
                json!({"name": prompt, "alias": "example_alias", "version": "1"})
            }
            (Entity::PromptAlias, _) => json!({"name": prompt, "alias": "example_alias"}),
            (Entity::BudgetPolicy, _) => json!({"budget_policy_id": "example_policy"}),
        }
    }
}

/// ACTIVE webhooks receive events; DISABLED ones keep their settings and receive nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "ACTIVE",
            Status::Disabled => "DISABLED",
        }
    }
    pub fn parse(v: &Value) -> Option<Status> {
        match v {
            Value::String(s) if s.eq_ignore_ascii_case("ACTIVE") => Some(Status::Active),
            Value::String(s) if s.eq_ignore_ascii_case("DISABLED") => Some(Status::Disabled),
            Value::Number(n) if n.as_i64() == Some(1) => Some(Status::Active),
            Value::Number(n) if n.as_i64() == Some(2) => Some(Status::Disabled),
            _ => None,
        }
    }
}

/// A webhook as the API answers it. The secret is never part of it.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub webhook_id: String,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub events: Vec<Event>,
    pub status: Status,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
}

impl Serialize for Webhook {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = Map::new();
        m.insert("webhook_id".into(), json!(self.webhook_id));
        m.insert("name".into(), json!(self.name));
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        m.insert("url".into(), json!(self.url));
        m.insert(
            "events".into(),
            Value::Array(self.events.iter().map(|e| e.to_wire()).collect()),
        );
        m.insert("status".into(), json!(self.status.as_str()));
        // int64 travels as a string in proto3 JSON, as MLflow's server writes it.
        m.insert(
            "creation_timestamp".into(),
            json!(self.creation_timestamp.to_string()),
        );
        m.insert(
            "last_updated_timestamp".into(),
            json!(self.last_updated_timestamp.to_string()),
        );
        Value::Object(m).serialize(s)
    }
}

/// A new or changed webhook, validated by the domain layer; `secret` already encrypted.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<Event>>,
    pub encrypted_secret: Option<String>,
    pub status: Option<Status>,
}

/// One delivery of one event to one webhook, for inspection (the UI, tests).
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub delivery_id: String,
    pub webhook_id: String,
    pub webhook_name: String,
    pub event: String,
    pub model_name: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// A registry change that webhooks may be subscribed to, with its payload's `data`.
#[derive(Debug, Clone)]
pub struct Change {
    /// The registered-model form of the event; the store turns it into the prompt form when the
    /// model is a prompt.
    pub event: Event,
    pub model_name: String,
    pub data: Value,
}

impl Change {
    fn new(entity: Entity, action: Action, name: &str, data: Value) -> Change {
        Change {
            event: Event::new(entity, action),
            model_name: name.to_owned(),
            data,
        }
    }

    pub fn model_created(name: &str, tags: &[KeyValue], description: Option<&str>) -> Self {
        let tags: Map<String, Value> = tags
            .iter()
            .map(|t| (t.key.clone(), json!(t.value)))
            .collect();
        let data = json!({"name": name, "tags": tags, "description": description});
        Change::new(Entity::RegisteredModel, Action::Created, name, data)
    }

    pub fn version_created(
        name: &str,
        version: i64,
        source: &str,
        run_id: Option<&str>,
        tags: &[KeyValue],
        description: Option<&str>,
    ) -> Self {
        let tags: Map<String, Value> = tags
            .iter()
            .map(|t| (t.key.clone(), json!(t.value)))
            .collect();
        let data = json!({
            "name": name, "version": version.to_string(), "source": source,
            "run_id": run_id.filter(|r| !r.is_empty()), "tags": tags,
            "description": description.filter(|d| !d.is_empty()),
        });
        Change::new(Entity::ModelVersion, Action::Created, name, data)
    }

    pub fn version_tag_set(name: &str, version: i64, key: &str, value: &str) -> Self {
        let data =
            json!({"name": name, "version": version.to_string(), "key": key, "value": value});
        Change::new(Entity::ModelVersionTag, Action::Set, name, data)
    }

    pub fn version_tag_deleted(name: &str, version: i64, key: &str) -> Self {
        let data = json!({"name": name, "version": version.to_string(), "key": key});
        Change::new(Entity::ModelVersionTag, Action::Deleted, name, data)
    }

    pub fn alias_created(name: &str, alias: &str, version: i64) -> Self {
        let data = json!({"name": name, "alias": alias, "version": version.to_string()});
        Change::new(Entity::ModelVersionAlias, Action::Created, name, data)
    }

    pub fn alias_deleted(name: &str, alias: &str) -> Self {
        let data = json!({"name": name, "alias": alias});
        Change::new(Entity::ModelVersionAlias, Action::Deleted, name, data)
    }

    /// The same change as it reads for a prompt: the prompt entity, and without the tags
    /// that only mark a model as a prompt (MLflow strips them too).
    pub fn for_prompt(mut self) -> Change {
        self.event.entity = self.event.entity.for_prompt();
        if let Some(Value::Object(tags)) = self.data.get_mut("tags") {
            tags.remove(PROMPT_TAG);
            tags.remove("_mlflow_prompt_type");
            if self.event.entity == Entity::PromptVersion {
                let template = tags.remove("mlflow.prompt.text");
                if let Value::Object(d) = &mut self.data {
                    d.remove("source");
                    d.remove("run_id");
                    d.insert("template".into(), template.unwrap_or(Value::Null));
                }
            }
        }
        self
    }

    /// The body sent to receivers: `{entity, action, timestamp, data}`.
    pub fn body(&self, timestamp: &str) -> String {
        json!({
            "entity": self.event.entity.as_str(),
            "action": self.event.action.as_str(),
            "timestamp": timestamp,
            "data": self.data,
        })
        .to_string()
    }
}

/// The tag that makes a registered model a prompt.
pub const PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_their_wire_forms() {
        assert_eq!(
            Entity::parse(&json!("MODEL_VERSION_ALIAS")),
            Some(Entity::ModelVersionAlias)
        );
        assert_eq!(
            Entity::parse(&json!("model_version")),
            Some(Entity::ModelVersion)
        );
        assert_eq!(Entity::parse(&json!(1)), Some(Entity::RegisteredModel));
        assert_eq!(Entity::parse(&json!("nope")), None);
        assert_eq!(Action::parse(&json!("SET")), Some(Action::Set));
        assert_eq!(Status::parse(&json!("DISABLED")), Some(Status::Disabled));
    }

    #[test]
    fn only_mlflow_combinations_are_valid() {
        assert!(Event::new(Entity::ModelVersion, Action::Created).is_valid());
        assert!(Event::new(Entity::ModelVersionTag, Action::Deleted).is_valid());
        assert!(!Event::new(Entity::ModelVersion, Action::Deleted).is_valid());
        assert!(!Event::new(Entity::RegisteredModel, Action::Set).is_valid());
    }

    #[test]
    fn prompt_changes_drop_marker_tags() {
        let tags = vec![
            KeyValue::new(PROMPT_TAG, "true"),
            KeyValue::new("team", "a"),
        ];
        let c = Change::model_created("p", &tags, None).for_prompt();
        assert_eq!(c.event.entity, Entity::Prompt);
        assert_eq!(c.data["tags"], json!({"team": "a"}));
    }
}
