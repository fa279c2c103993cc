-- Pauses connection $1 of project $2 (both NULL: the whole instance) for
-- reason $3, by $4 (issue 41). No row when that scope is paused already.
-- Tells every worker at once (`LISTEN secret_sync_pauses`), on commit.
WITH p AS (
    INSERT INTO secret_sync_pauses (connection_id, project_id, reason, paused_by)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT DO NOTHING
 RETURNING id, connection_id, project_id, reason, paused_by, paused_at),
 told AS (SELECT pg_notify('secret_sync_pauses', 'paused') FROM p)
SELECT p.id, p.connection_id, p.project_id, p.reason, p.paused_by, p.paused_at
  FROM p LEFT JOIN told ON true
