-- Browser sessions (issue 12, access): rotating refresh tokens and login throttling shared by every hub replica.

-- One row per refresh token ever issued. The token itself is an opaque random string that only the client holds;
-- the hub keeps its sha256. A login starts a family (family_id, also the access tokens' `sid` claim); each refresh
-- marks the presented token used and issues the next one in the same family. A used token presented again means
-- it was copied: the whole family is revoked (revoked_at on every row).
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    family_id  uuid NOT NULL,
    username   text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    user_agent text,
    address    text
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id);
-- Every authenticated request with a `sid` asks whether its family is revoked: one probe of this small index.
CREATE INDEX IF NOT EXISTS refresh_tokens_revoked_family ON refresh_tokens (family_id) WHERE revoked_at IS NOT NULL;
-- Pruning a user's expired tokens at login.
CREATE INDEX IF NOT EXISTS refresh_tokens_user_expiry ON refresh_tokens (username, expires_at);

-- Failed logins, one row per failure and per counter (scope 'username' or 'address'), counted over a sliding
-- window. A login attempt reserves its rows before the slow password check and commits them, so concurrent
-- attempts on other replicas count it; a successful login deletes its username's rows (and its own address row).
CREATE TABLE IF NOT EXISTS login_failures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope     text NOT NULL CHECK (scope IN ('username', 'address')),
    key       text NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (scope, key, failed_at);
CREATE INDEX IF NOT EXISTS login_failures_age ON login_failures (failed_at);
