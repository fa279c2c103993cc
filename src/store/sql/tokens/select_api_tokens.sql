-- Every API token, revoked ones included, newest first.
SELECT id, name, role, project_ids, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY created_at DESC
