-- The live token of live session $1 (idle for less than $2 seconds),
-- marking the session seen (restarting its idle time). One statement
-- probing the session's primary key and the token's. As
-- `select_live_session.sql`, which does not touch it.
UPDATE dashboard_sessions s SET last_seen_at = now() FROM api_tokens t
 WHERE s.id_hash = $1 AND t.id = s.token_id AND t.revoked_at IS NULL
   AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2)
RETURNING t.id, t.name, t.role, t.project_ids, t.created_at, t.last_used_at, t.revoked_at
