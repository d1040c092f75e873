-- Users and per-resource permissions of the basic-auth app (`--app-name basic-auth`), MLflow's
-- model: a user is an admin or not; each experiment and registered model may grant a user READ,
-- USE, EDIT, MANAGE or NO_PERMISSIONS; without a grant the configured default applies.

CREATE TABLE auth_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    -- PHC string: argon2id, or werkzeug's pbkdf2/scrypt for users imported from MLflow.
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE auth_experiment_permissions (
    experiment_id TEXT NOT NULL,
    user_id       BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    permission    TEXT NOT NULL,
    PRIMARY KEY (experiment_id, user_id)
);

CREATE TABLE auth_registered_model_permissions (
    name       TEXT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (name, user_id)
);

CREATE INDEX auth_experiment_permissions_user ON auth_experiment_permissions (user_id);
CREATE INDEX auth_registered_model_permissions_user ON auth_registered_model_permissions (user_id);
