-- Ends the active pause of connection $1 (NULL: the instance's), by $2
-- (issue 41). No row when that scope is not paused. Tells every worker
-- at once (`LISTEN secret_sync_pauses`), on commit.
WITH p AS (
    UPDATE secret_sync_pauses SET resumed_at = now(), resumed_by = $2
     WHERE resumed_at IS NULL AND connection_id IS NOT DISTINCT FROM $1
 RETURNING id, connection_id, project_id, reason, paused_by, paused_at),
 told AS (SELECT pg_notify('secret_sync_pauses', 'resumed') FROM p)
SELECT p.id, p.connection_id, p.project_id, p.reason, p.paused_by, p.paused_at
  FROM p LEFT JOIN told ON true
