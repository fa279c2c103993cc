-- Server-side sessions of the ops dashboard. The cookie holds a random
-- 256-bit session id; only its SHA-256 is stored, so a database dump gives
-- no usable cookie. A session belongs to the API token it was opened with
-- and ends with it (revoking deletes them; every lookup also joins the
-- token and checks it is live).
CREATE TABLE dashboard_sessions (
    id_hash       bytea PRIMARY KEY,
    token_id      uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    -- the absolute end (SESSION_MAX_AGE after sign-in); the idle end is
    -- last_seen_at + SESSION_IDLE_TIMEOUT, checked with the current setting
    expires_at    timestamptz NOT NULL
);
-- per token: counting and ending a token's sessions
CREATE INDEX dashboard_sessions_token_idx ON dashboard_sessions (token_id);
-- the sweep of expired sessions, by either end
CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);
CREATE INDEX dashboard_sessions_last_seen_idx ON dashboard_sessions (last_seen_at);
