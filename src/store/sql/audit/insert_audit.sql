-- One audit entry: $1 actor kind, $2 actor token, $3 actor name,
-- $4 project, $5 action, $6 target type, $7 target id, $8 changes (jsonb),
-- $9 request id.
INSERT INTO audit_log (actor_kind, actor_token_id, actor_name, project_id, action,
                       target_type, target_id, changes, req_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
