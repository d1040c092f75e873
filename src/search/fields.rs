//! Every searchable entity's fields, written once: the name a filter or `order_by` uses, how it
//! compares, and the column the store reads it from. The domain validates searches against these
//! tables; the store compiles them to SQL with the same tables.

use super::{Entity, Field, FieldKind, Schema};

const fn field(name: &'static str, kind: FieldKind, column: &'static str) -> Field {
    Field { name, kind, column }
}

/// runs/search (columns of `runs`).
pub static RUNS: Schema = Schema {
    what: "run",
    entities: &[
        Entity::Metric,
        Entity::Param,
        Entity::Tag,
        Entity::Attribute,
        Entity::Dataset,
    ],
    attributes: &[
        field("run_id", FieldKind::Id, "run_uuid"),
        field("run_name", FieldKind::Text, "name"),
        field("status", FieldKind::Text, "status"),
        field("user_id", FieldKind::Text, "user_id"),
        field("artifact_uri", FieldKind::Text, "artifact_uri"),
        field("lifecycle_stage", FieldKind::Text, "lifecycle_stage"),
        field("start_time", FieldKind::Numeric, "start_time"),
        field("end_time", FieldKind::Numeric, "end_time"),
    ],
    dataset_fields: &["name", "digest", "context"],
    bare: Entity::Attribute,
};

/// experiments/search (columns of `experiments`).
pub static EXPERIMENTS: Schema = Schema {
    what: "experiment",
    entities: &[Entity::Tag, Entity::Attribute],
    attributes: &[
        field("name", FieldKind::Text, "name"),
        field("experiment_id", FieldKind::Numeric, "experiment_id"),
        field("creation_time", FieldKind::Numeric, "creation_time"),
        field("last_update_time", FieldKind::Numeric, "last_update_time"),
    ],
    dataset_fields: &[],
    bare: Entity::Attribute,
};

/// registered-models/search (columns of `registered_models`).
pub static REGISTERED_MODELS: Schema = Schema {
    what: "registered model",
    entities: &[Entity::Tag, Entity::Attribute],
    attributes: &[
        field("name", FieldKind::Text, "name"),
        field("creation_timestamp", FieldKind::Numeric, "creation_time"),
        field(
            "last_updated_timestamp",
            FieldKind::Numeric,
            "last_updated_time",
        ),
    ],
    dataset_fields: &[],
    bare: Entity::Attribute,
};

/// model-versions/search (columns of `model_versions`).
pub static MODEL_VERSIONS: Schema = Schema {
    what: "model version",
    entities: &[Entity::Tag, Entity::Attribute],
    attributes: &[
        field("name", FieldKind::Text, "name"),
        field("version_number", FieldKind::Numeric, "version"),
        field("run_id", FieldKind::Id, "run_id"),
        field("source_path", FieldKind::Text, "source"),
        field("current_stage", FieldKind::Text, "current_stage"),
        field("creation_timestamp", FieldKind::Numeric, "creation_time"),
        field(
            "last_updated_timestamp",
            FieldKind::Numeric,
            "last_updated_time",
        ),
    ],
    dataset_fields: &[],
    bare: Entity::Attribute,
};

/// logged-models/search (columns of `logged_models`).
pub static LOGGED_MODELS: Schema = Schema {
    what: "logged model",
    entities: &[
        Entity::Metric,
        Entity::Param,
        Entity::Tag,
        Entity::Attribute,
    ],
    attributes: &[
        field("name", FieldKind::Text, "name"),
        field("model_id", FieldKind::Id, "model_id"),
        field("model_type", FieldKind::Text, "model_type"),
        field("status", FieldKind::Text, "status"),
        field("source_run_id", FieldKind::Id, "source_run_id"),
        field(
            "creation_timestamp",
            FieldKind::Numeric,
            "creation_timestamp_ms",
        ),
        field("creation_time", FieldKind::Numeric, "creation_timestamp_ms"),
        field(
            "last_updated_timestamp",
            FieldKind::Numeric,
            "last_updated_timestamp_ms",
        ),
    ],
    dataset_fields: &[],
    bare: Entity::Attribute,
};
