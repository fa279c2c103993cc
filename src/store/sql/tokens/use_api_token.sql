-- The live token with hash $1, marking it used.
UPDATE api_tokens SET last_used_at = now()
 WHERE token_hash = $1 AND revoked_at IS NULL RETURNING id, name, role, project_ids, created_at, last_used_at, revoked_at
