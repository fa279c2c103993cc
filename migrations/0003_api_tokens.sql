-- Bearer tokens of the HTTP API (`secret-sync api`). Only a SHA-256 hash of
-- each token is stored: tokens are 256-bit random strings, so a plain hash
-- cannot be reversed by guessing, and lookups stay a unique-index probe.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    token_hash    bytea NOT NULL UNIQUE,
    -- read: GET only; write: everything
    role          text NOT NULL CHECK (role IN ('read', 'write')),
    -- the projects this token may touch (never empty)
    project_ids   text[] NOT NULL CHECK (cardinality(project_ids) > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NULL,
    revoked_at    timestamptz NULL
);
