-- Tracking schema (SQLite). Times are epoch milliseconds; booleans are 0/1 integers so both
-- backends read them the same way.

CREATE TABLE experiments (
    experiment_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL UNIQUE,
    artifact_location TEXT NOT NULL,
    lifecycle_stage   TEXT NOT NULL DEFAULT 'active',
    creation_time     BIGINT NOT NULL,
    last_update_time  BIGINT NOT NULL
);

CREATE TABLE experiment_tags (
    experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
) WITHOUT ROWID;

CREATE TABLE runs (
    run_uuid        TEXT PRIMARY KEY,
    experiment_id   BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name            TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    start_time      BIGINT NOT NULL,
    end_time        BIGINT,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    artifact_uri    TEXT NOT NULL,
    deleted_time    BIGINT
);
-- The default runs/search order within an experiment.
CREATE INDEX runs_by_experiment ON runs (experiment_id, lifecycle_stage, start_time DESC, run_uuid);

CREATE TABLE params (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX params_by_key ON params (key, value);

CREATE TABLE tags (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX tags_by_key ON tags (key, value);

-- Full metric history, clustered by (run, key, step) so a history read is one range scan.
-- Logging the very same point twice is a no-op, as in MLflow.
CREATE TABLE metrics (
    run_uuid       TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    step           BIGINT NOT NULL,
    timestamp      BIGINT NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    is_nan         BIGINT NOT NULL DEFAULT 0,
    model_id       TEXT,
    dataset_name   TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)
) WITHOUT ROWID;

-- The latest value per (run, key): what runs/get returns and what search filters and sorts on.
CREATE TABLE latest_metrics (
    run_uuid  TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    is_nan    BIGINT NOT NULL DEFAULT 0,
    timestamp BIGINT NOT NULL,
    step      BIGINT NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_by_value ON latest_metrics (key, value);

CREATE TABLE datasets (
    experiment_id BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    source_type   TEXT NOT NULL,
    source        TEXT NOT NULL,
    schema        TEXT,
    profile       TEXT,
    PRIMARY KEY (experiment_id, name, digest)
);

CREATE TABLE run_dataset_inputs (
    run_uuid  TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    digest    TEXT NOT NULL,
    -- The `mlflow.data.context` input tag (train/eval/...), searchable as datasets.context.
    context   TEXT,
    tags_json TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_uuid, name, digest)
);

CREATE TABLE run_model_inputs (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    PRIMARY KEY (run_uuid, model_id)
);

CREATE TABLE run_model_outputs (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    step     BIGINT NOT NULL,
    PRIMARY KEY (run_uuid, model_id)
);
