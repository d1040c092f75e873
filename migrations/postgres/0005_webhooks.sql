-- Registry webhooks (MLflow 3.3+'s API) and their durable outbox.

CREATE TABLE webhooks (
    webhook_id        TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    description       TEXT,
    url               TEXT NOT NULL,
    -- Fernet token of the HMAC secret (MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY); never returned.
    secret            TEXT,
    status            TEXT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    -- Soft delete, as MLflow does: past deliveries keep their webhook's name.
    deleted_time      BIGINT
);
CREATE INDEX webhooks_by_creation ON webhooks (creation_time);

CREATE TABLE webhook_events (
    webhook_id TEXT NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    entity     TEXT NOT NULL,
    action     TEXT NOT NULL,
    -- The order the client listed them in, which is the order they are answered in.
    position   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, entity, action)
);
CREATE INDEX webhook_events_by_event ON webhook_events (entity, action);

-- One row per (event, subscribed webhook), written in the transaction that made the change.
-- Whichever replica claims a row (lease_until) sends it; rows of one webhook and one registered
-- model go out strictly in id order.
CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    -- Sent as X-MLflow-Delivery-Id, the same on every attempt.
    delivery_id     TEXT NOT NULL UNIQUE,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    entity          TEXT NOT NULL,
    action          TEXT NOT NULL,
    model_name      TEXT NOT NULL,
    -- The exact JSON body, signed and sent as is on every attempt.
    payload         TEXT NOT NULL,
    -- pending, delivered or failed.
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_order ON webhook_deliveries (webhook_id, model_name, state, id);
CREATE INDEX webhook_deliveries_by_model ON webhook_deliveries (model_name, id);
