-- Personal access tokens of the basic-auth app (Weir-only): `Authorization: Bearer weir_pat_...`
-- authenticates as the token's user (what the mlflow client sends with MLFLOW_TRACKING_TOKEN).
-- Only the SHA-256 of a token is stored: tokens are 256 random bits, so a fast hash suffices and
-- the database alone never lets anyone sign in.

CREATE TABLE auth_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    -- Hex SHA-256 of the whole token.
    token_hash TEXT NOT NULL UNIQUE,
    -- Milliseconds since the epoch.
    created_at BIGINT NOT NULL,
    -- NULL: never expires.
    expires_at BIGINT,
    -- NULL: not revoked.
    revoked_at BIGINT
);

CREATE INDEX auth_tokens_user ON auth_tokens (user_id);
