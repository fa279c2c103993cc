-- A new API token: $1 name, $2 hash, $3 role, $4 projects.
INSERT INTO api_tokens (name, token_hash, role, project_ids)
VALUES ($1, $2, $3, $4) RETURNING id, name, role, project_ids, created_at, last_used_at, revoked_at
