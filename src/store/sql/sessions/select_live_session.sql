-- The live token of live session $1 (idle for less than $2 seconds),
-- leaving it as it is (background refreshes: an unattended tab still
-- times out). As `touch_live_session.sql`, which marks it seen.
SELECT t.id, t.name, t.role, t.project_ids, t.created_at, t.last_used_at, t.revoked_at
  FROM dashboard_sessions s, api_tokens t
 WHERE s.id_hash = $1 AND t.id = s.token_id AND t.revoked_at IS NULL
   AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2)
