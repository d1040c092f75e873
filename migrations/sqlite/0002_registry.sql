-- Model registry and MLflow 3 logged models (SQLite).

CREATE TABLE registered_models (
    name              TEXT PRIMARY KEY,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    description       TEXT,
    -- The highest version number ever issued: numbers are never reused, even after a delete.
    last_version      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE registered_model_tags (
    name  TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
);

CREATE TABLE model_versions (
    name              TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    version           BIGINT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    description       TEXT,
    user_id           TEXT,
    current_stage     TEXT NOT NULL DEFAULT 'None',
    source            TEXT NOT NULL,
    run_id            TEXT,
    run_link          TEXT,
    status            TEXT NOT NULL DEFAULT 'READY',
    status_message    TEXT,
    -- Where the files are, resolved at creation (what get-download-uri answers).
    storage_location  TEXT,
    model_id          TEXT,
    PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    name    TEXT NOT NULL,
    version BIGINT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE registered_model_aliases (
    name    TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    alias   TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (name, alias)
);

-- Every alias move (set, moved, deleted): "which version was champion on Tuesday".
CREATE TABLE registered_model_alias_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    alias        TEXT NOT NULL,
    from_version BIGINT,
    to_version   BIGINT,
    changed_at   BIGINT NOT NULL,
    changed_by   TEXT
);
CREATE INDEX alias_history_by_alias ON registered_model_alias_history (name, alias, changed_at);

CREATE TABLE logged_models (
    model_id                  TEXT PRIMARY KEY,
    experiment_id             BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name                      TEXT NOT NULL,
    artifact_location         TEXT NOT NULL,
    creation_timestamp_ms     BIGINT NOT NULL,
    last_updated_timestamp_ms BIGINT NOT NULL,
    status                    TEXT NOT NULL,
    status_message            TEXT,
    lifecycle_stage           TEXT NOT NULL DEFAULT 'active',
    model_type                TEXT,
    source_run_id             TEXT
);
CREATE INDEX logged_models_by_experiment ON logged_models (experiment_id, creation_timestamp_ms);

CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL REFERENCES logged_models (model_id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

-- Metrics logged against a logged model (MLflow 3 re-logs a run's metrics with `model_id`).
-- A point may belong to several models, so it gets its own table rather than a column.
CREATE TABLE logged_model_metrics (
    model_id       TEXT NOT NULL,
    run_uuid       TEXT NOT NULL,
    key            TEXT NOT NULL,
    step           BIGINT NOT NULL,
    timestamp      BIGINT NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    is_nan         BIGINT NOT NULL DEFAULT 0,
    dataset_name   TEXT,
    dataset_digest TEXT,
    PRIMARY KEY (model_id, key, step, timestamp, run_uuid, value, is_nan)
);
