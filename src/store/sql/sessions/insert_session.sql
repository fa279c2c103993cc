-- A dashboard session (id hash $1) for token $2, if it is live, expiring
-- $3 seconds from now.
INSERT INTO dashboard_sessions (id_hash, token_id, expires_at)
SELECT $1, id, now() + make_interval(secs => $3)
  FROM api_tokens WHERE id = $2 AND revoked_at IS NULL
