//! What `weir db import` copies: for each of Weir's tables, its columns and the SELECT that
//! reads them from MLflow's schema. The SELECTs adapt to the columns the database has (MLflow
//! added some over its versions) and turn MLflow's encodings into Weir's: booleans into 0/1,
//! nullable columns Weir declares NOT NULL into MLflow's defaults, logged-model status numbers
//! into their names.

use super::source::{Dialect, Schema};

/// A column's type as read and written (every column may hold NULL at this level; the SELECT
/// supplies defaults where Weir's column is NOT NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Float,
    Text,
}

/// One table copy.
pub struct TableCopy {
    /// Weir's table.
    pub target: &'static str,
    /// Weir's columns, in the order the SELECT yields them.
    pub columns: &'static [(&'static str, Ty)],
    /// MLflow's tables the SELECT reads; the copy is skipped when one is missing (an older
    /// MLflow, e.g. logged models before 3.0).
    pub requires: &'static [&'static str],
    /// The SELECT over MLflow's schema.
    pub select: fn(&Schema) -> String,
}

use Ty::{Float, Int, Text};

/// MLflow's tables read by some copy below (the rest are reported as not imported), and
/// `workspaces`, which holds only its default row in a database the import accepts.
pub const READ: &[&str] = &[
    "alembic_version",
    "workspaces",
    "experiments",
    "experiment_tags",
    "runs",
    "params",
    "tags",
    "metrics",
    "latest_metrics",
    "datasets",
    "inputs",
    "input_tags",
    "registered_models",
    "registered_model_tags",
    "model_versions",
    "model_version_tags",
    "registered_model_aliases",
    "logged_models",
    "logged_model_params",
    "logged_model_tags",
    "logged_model_metrics",
];

/// In dependency order (parents before children).
pub const COPIES: &[TableCopy] = &[
    TableCopy {
        target: "experiments",
        columns: &[
            ("experiment_id", Int),
            ("name", Text),
            ("artifact_location", Text),
            ("lifecycle_stage", Text),
            ("creation_time", Int),
            ("last_update_time", Int),
        ],
        requires: &["experiments"],
        select: |s| {
            let created = s.or("experiments", "creation_time", "0");
            let updated = s.or("experiments", "last_update_time", "NULL");
            format!(
                "SELECT {}, {}, {}, {}, {}, {} FROM experiments",
                s.int("experiment_id"),
                s.text("name"),
                s.text("COALESCE(artifact_location, '')"),
                s.text("COALESCE(lifecycle_stage, 'active')"),
                s.int(&format!("COALESCE({created}, 0)")),
                s.int(&format!("COALESCE({updated}, {created}, 0)")),
            )
        },
    },
    TableCopy {
        target: "experiment_tags",
        columns: &[("experiment_id", Int), ("key", Text), ("value", Text)],
        requires: &["experiment_tags"],
        select: |s| {
            format!(
                "SELECT {}, {}, {} FROM experiment_tags",
                s.int("experiment_id"),
                s.text(KEY),
                s.text("COALESCE(value, '')")
            )
        },
    },
    TableCopy {
        target: "runs",
        columns: &[
            ("run_uuid", Text),
            ("experiment_id", Int),
            ("name", Text),
            ("user_id", Text),
            ("status", Text),
            ("start_time", Int),
            ("end_time", Int),
            ("lifecycle_stage", Text),
            ("artifact_uri", Text),
            ("deleted_time", Int),
        ],
        requires: &["runs"],
        select: |s| {
            format!(
                "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {} FROM runs",
                s.text("run_uuid"),
                s.int("experiment_id"),
                s.text("COALESCE(name, '')"),
                s.text("COALESCE(user_id, '')"),
                s.text("COALESCE(status, 'SCHEDULED')"),
                s.int("COALESCE(start_time, 0)"),
                s.int("end_time"),
                s.text("COALESCE(lifecycle_stage, 'active')"),
                s.text("COALESCE(artifact_uri, '')"),
                s.int(&s.or("runs", "deleted_time", "NULL")),
            )
        },
    },
    TableCopy {
        target: "params",
        // With the run's experiment and start time, as Weir's writers store them (the walk of
        // migration 7), read in the same pass instead of filled in per row afterwards.
        columns: &[
            ("run_uuid", Text),
            ("key", Text),
            ("value", Text),
            ("experiment_id", Int),
            ("start_time", Int),
        ],
        requires: &["params", "runs"],
        select: |s| {
            format!(
                "SELECT {}, {}, {}, {}, {} FROM params p JOIN runs r ON r.run_uuid = p.run_uuid",
                s.text("p.run_uuid"),
                s.text(&format!("p.{KEY}")),
                s.text("COALESCE(p.value, '')"),
                s.int("r.experiment_id"),
                s.int("COALESCE(r.start_time, 0)")
            )
        },
    },
    TableCopy {
        target: "tags",
        columns: &[("run_uuid", Text), ("key", Text), ("value", Text)],
        requires: &["tags"],
        select: |s| {
            format!(
                "SELECT {}, {}, {} FROM tags",
                s.text("run_uuid"),
                s.text(KEY),
                s.text("COALESCE(value, '')")
            )
        },
    },
    TableCopy {
        target: "metrics",
        columns: &[
            ("run_uuid", Text),
            ("key", Text),
            ("step", Int),
            ("timestamp", Int),
            ("value", Float),
            ("is_nan", Int),
        ],
        requires: &["metrics"],
        select: |s| {
            format!(
                "SELECT {}, {}, {}, {}, {}, {} FROM metrics",
                s.text("run_uuid"),
                s.text(KEY),
                s.int("COALESCE(step, 0)"),
                s.int("COALESCE(timestamp, 0)"),
                s.float("value"),
                s.int("CASE WHEN is_nan THEN 1 ELSE 0 END"),
            )
        },
    },
    TableCopy {
        target: "latest_metrics",
        columns: &[
            ("run_uuid", Text),
            ("key", Text),
            ("value", Float),
            ("is_nan", Int),
            ("timestamp", Int),
            ("step", Int),
        ],
        requires: &["latest_metrics"],
        select: |s| {
            format!(
                "SELECT {}, {}, {}, {}, {}, {} FROM latest_metrics",
                s.text("run_uuid"),
                s.text(KEY),
                s.float("value"),
                s.int("CASE WHEN is_nan THEN 1 ELSE 0 END"),
                s.int("COALESCE(timestamp, 0)"),
                s.int("COALESCE(step, 0)"),
            )
        },
    },
    TableCopy {
        target: "datasets",
        columns: &[
            ("experiment_id", Int),
            ("name", Text),
            ("digest", Text),
            ("source_type", Text),
            ("source", Text),
            ("schema", Text),
            ("profile", Text),
        ],
        requires: &["datasets"],
        select: |s| {
            format!(
                "SELECT {}, {}, {}, {}, {}, {}, {} FROM datasets",
                s.int("experiment_id"),
                s.text("name"),
                s.text("digest"),
                s.text("dataset_source_type"),
                s.text("dataset_source"),
                s.text("dataset_schema"),
                s.text("dataset_profile"),
            )
        },
    },
    TableCopy {
        // MLflow links a run to a dataset through `inputs` (DATASET -> RUN) and keeps the
        // link's tags in `input_tags`; Weir keeps one row per link with its tags as JSON pairs
        // and the `mlflow.data.context` tag on its own (searchable as datasets.context).
        target: "run_dataset_inputs",
        columns: &[
            ("run_uuid", Text),
            ("name", Text),
            ("digest", Text),
            ("context", Text),
            ("tags_json", Text),
        ],
        requires: &["inputs", "input_tags", "datasets"],
        select: |s| {
            let tags = match s.dialect {
                Dialect::Sqlite => {
                    "(SELECT json_group_array(json_array(t.name, t.value)) FROM \
                     (SELECT name, value FROM input_tags WHERE input_uuid = i.input_uuid ORDER BY name) t)"
                }
                Dialect::Postgres => {
                    "(SELECT COALESCE(CAST(json_agg(json_build_array(t.name, t.value) ORDER BY t.name) AS TEXT), '[]') \
                     FROM input_tags t WHERE t.input_uuid = i.input_uuid)"
                }
                // MySQL's JSON_ARRAYAGG takes no ORDER BY (MariaDB's does): GROUP_CONCAT does.
                Dialect::Mysql => {
                    "(SELECT CONCAT('[', GROUP_CONCAT(JSON_ARRAY(t.name, t.value) ORDER BY t.name \
                     SEPARATOR ','), ']') FROM input_tags t WHERE t.input_uuid = i.input_uuid)"
                }
            };
            format!(
                "SELECT {}, {}, {}, {}, {} FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id \
                 WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN'",
                s.text("i.destination_id"),
                s.text("d.name"),
                s.text("d.digest"),
                s.text(
                    "(SELECT c.value FROM input_tags c WHERE c.input_uuid = i.input_uuid \
                     AND c.name = 'mlflow.data.context')"
                ),
                s.text(&format!("COALESCE({tags}, '[]')")),
            )
        },
    },
    TableCopy {
        target: "run_model_inputs",
        columns: &[("run_uuid", Text), ("model_id", Text)],
        requires: &["inputs"],
        select: |s| {
            format!(
                "SELECT {}, {} FROM inputs WHERE source_type = 'RUN_INPUT' AND destination_type = 'MODEL_INPUT'",
                s.text("source_id"),
                s.text("destination_id"),
            )
        },
    },
    TableCopy {
        target: "run_model_outputs",
        columns: &[("run_uuid", Text), ("model_id", Text), ("step", Int)],
        requires: &["inputs"],
        select: |s| {
            format!(
                "SELECT {}, {}, {} FROM inputs WHERE source_type = 'RUN_OUTPUT' AND destination_type = 'MODEL_OUTPUT'",
                s.text("source_id"),
                s.text("destination_id"),
                s.int(&format!("COALESCE({}, 0)", s.or("inputs", "step", "0"))),
            )
        },
    },
    TableCopy {
        // `last_version`: MLflow numbers a new version max(version) + 1 over every row,
        // deleted ones included, so Weir continues from there.
        target: "registered_models",
        columns: &[
            ("name", Text),
            ("creation_time", Int),
            ("last_updated_time", Int),
            ("description", Text),
            ("last_version", Int),
        ],
        requires: &["registered_models", "model_versions"],
        select: |s| {
            format!(
                "SELECT {}, {}, {}, {}, {} FROM registered_models rm",
                s.text("rm.name"),
                s.int("COALESCE(rm.creation_time, 0)"),
                s.int("COALESCE(rm.last_updated_time, rm.creation_time, 0)"),
                s.text("rm.description"),
                s.int(
                    "COALESCE((SELECT MAX(mv.version) FROM model_versions mv WHERE mv.name = rm.name), 0)"
                ),
            )
        },
    },
    TableCopy {
        target: "registered_model_tags",
        columns: &[("name", Text), ("key", Text), ("value", Text)],
        requires: &["registered_model_tags"],
        select: |s| {
            format!(
                "SELECT {}, {}, {} FROM registered_model_tags",
                s.text("name"),
                s.text(KEY),
                s.text("COALESCE(value, '')")
            )
        },
    },
    TableCopy {
        // A deleted version stays in MLflow's table as stage `Deleted_Internal`; Weir forgets
        // it (only its number, through `last_version`).
        target: "model_versions",
        columns: &[
            ("name", Text),
            ("version", Int),
            ("creation_time", Int),
            ("last_updated_time", Int),
            ("description", Text),
            ("user_id", Text),
            ("current_stage", Text),
            ("source", Text),
            ("run_id", Text),
            ("run_link", Text),
            ("status", Text),
            ("status_message", Text),
            ("storage_location", Text),
        ],
        requires: &["model_versions"],
        select: |s| {
            format!(
                "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {} FROM model_versions \
                 WHERE {LIVE}",
                s.text("name"),
                s.int("version"),
                s.int("COALESCE(creation_time, 0)"),
                s.int("COALESCE(last_updated_time, creation_time, 0)"),
                s.text("description"),
                s.text("user_id"),
                s.text("COALESCE(current_stage, 'None')"),
                s.text("COALESCE(source, '')"),
                s.text("run_id"),
                s.text(&s.or("model_versions", "run_link", "NULL")),
                s.text("COALESCE(status, 'READY')"),
                s.text("status_message"),
                s.text(&s.or("model_versions", "storage_location", "NULL")),
            )
        },
    },
    TableCopy {
        target: "model_version_tags",
        columns: &[
            ("name", Text),
            ("version", Int),
            ("key", Text),
            ("value", Text),
        ],
        requires: &["model_version_tags", "model_versions"],
        select: |s| {
            format!(
                "SELECT {}, {}, {}, {} FROM model_version_tags t WHERE EXISTS (SELECT 1 FROM \
                 model_versions WHERE name = t.name AND version = t.version AND {LIVE})",
                s.text("t.name"),
                s.int("t.version"),
                s.text("t.key"),
                s.text("COALESCE(t.value, '')"),
            )
        },
    },
    TableCopy {
        target: "registered_model_aliases",
        columns: &[("name", Text), ("alias", Text), ("version", Int)],
        requires: &["registered_model_aliases", "model_versions"],
        select: |s| {
            format!(
                "SELECT {}, {}, {} FROM registered_model_aliases a WHERE EXISTS (SELECT 1 FROM \
                 model_versions WHERE name = a.name AND version = a.version AND {LIVE})",
                s.text("a.name"),
                s.text("a.alias"),
                s.int("a.version"),
            )
        },
    },
    TableCopy {
        target: "logged_models",
        columns: &[
            ("model_id", Text),
            ("experiment_id", Int),
            ("name", Text),
            ("artifact_location", Text),
            ("creation_timestamp_ms", Int),
            ("last_updated_timestamp_ms", Int),
            ("status", Text),
            ("status_message", Text),
            ("lifecycle_stage", Text),
            ("model_type", Text),
            ("source_run_id", Text),
        ],
        requires: &["logged_models"],
        select: |s| {
            format!(
                "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {} FROM logged_models",
                s.text("model_id"),
                s.int("experiment_id"),
                s.text("name"),
                s.text("artifact_location"),
                s.int("creation_timestamp_ms"),
                s.int("last_updated_timestamp_ms"),
                s.text(
                    "CASE status WHEN 1 THEN 'LOGGED_MODEL_PENDING' WHEN 2 THEN 'LOGGED_MODEL_READY' \
                     WHEN 3 THEN 'LOGGED_MODEL_UPLOAD_FAILED' ELSE 'LOGGED_MODEL_STATUS_UNSPECIFIED' END"
                ),
                s.text("status_message"),
                s.text("COALESCE(lifecycle_stage, 'active')"),
                s.text("model_type"),
                s.text("source_run_id"),
            )
        },
    },
    TableCopy {
        target: "logged_model_params",
        columns: &[("model_id", Text), ("key", Text), ("value", Text)],
        requires: &["logged_model_params"],
        select: |s| {
            format!(
                "SELECT {}, {}, {} FROM logged_model_params",
                s.text("model_id"),
                s.text("param_key"),
                s.text("param_value")
            )
        },
    },
    TableCopy {
        target: "logged_model_tags",
        columns: &[("model_id", Text), ("key", Text), ("value", Text)],
        requires: &["logged_model_tags"],
        select: |s| {
            format!(
                "SELECT {}, {}, {} FROM logged_model_tags",
                s.text("model_id"),
                s.text("tag_key"),
                s.text("tag_value")
            )
        },
    },
    TableCopy {
        // MLflow writes a NaN here as is: SQLite turns it into NULL, PostgreSQL keeps NaN
        // (MySQL refuses it).
        target: "logged_model_metrics",
        columns: &[
            ("model_id", Text),
            ("run_uuid", Text),
            ("key", Text),
            ("step", Int),
            ("timestamp", Int),
            ("value", Float),
            ("is_nan", Int),
            ("dataset_name", Text),
            ("dataset_digest", Text),
        ],
        requires: &["logged_model_metrics"],
        select: |s| {
            let nan = match s.dialect {
                Dialect::Sqlite | Dialect::Mysql => "metric_value IS NULL",
                Dialect::Postgres => {
                    "(metric_value IS NULL OR metric_value = CAST('NaN' AS DOUBLE PRECISION))"
                }
            };
            format!(
                "SELECT {}, {}, {}, {}, {}, {}, {}, {}, {} FROM logged_model_metrics",
                s.text("model_id"),
                s.text("run_id"),
                s.text("metric_name"),
                s.int("metric_step"),
                s.int("metric_timestamp_ms"),
                s.float(&format!("CASE WHEN {nan} THEN 0 ELSE metric_value END")),
                s.int(&format!("CASE WHEN {nan} THEN 1 ELSE 0 END")),
                s.text("dataset_name"),
                s.text("dataset_digest"),
            )
        },
    },
];

/// MLflow's `key` column, quoted: `KEY` is a reserved word in MySQL (read with ANSI_QUOTES).
const KEY: &str = "\"key\"";

/// A model version MLflow has not deleted (deleting marks it `Deleted_Internal`).
const LIVE: &str = "COALESCE(current_stage, '') <> 'Deleted_Internal'";
