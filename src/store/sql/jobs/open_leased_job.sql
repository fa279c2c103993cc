-- What job $2 of sync $1 (type $3) needs, under the sync's lease, to
-- decide whether it runs, with the sync's queued marker taken if it is
-- this job's (unless a plain sync job's marker still takes requests:
-- quiet for $4 seconds, at most $5 seconds since it was made; or a pause
-- holds the sync's writes: the parked job keeps it, and requests fold in).
-- Always one row; the sync's columns (`s.*`, as `syncs/select_sync.sql`)
-- are NULL without a sync row. `pause_*`: the pause that holds the sync
-- (its connection's before the instance's), if any (issue 41).
WITH pause AS (
    SELECT p.connection_id, p.reason, p.paused_by, p.paused_at
      FROM secret_sync_pauses p
     WHERE p.resumed_at IS NULL
       AND (p.connection_id IS NULL
            OR p.connection_id = (SELECT connection_id FROM secret_syncs WHERE id = $1))
     ORDER BY p.connection_id NULLS LAST LIMIT 1),
 wait AS (
    SELECT extract(epoch FROM least(q.last_request_at + make_interval(secs => $4),
                                     q.created_at + make_interval(secs => $5))
                              - clock_timestamp())::float8 AS secs
      FROM secret_sync_queued q
     WHERE q.sync_id = $1 AND q.job_id = $2 AND q.kind = 'sync'),
 fresh AS (SELECT secs FROM wait WHERE secs > 0.01),
 m AS (
    DELETE FROM secret_sync_queued WHERE sync_id = $1 AND job_id = $2
       AND NOT EXISTS (SELECT 1 FROM fresh) AND NOT EXISTS (SELECT 1 FROM pause)
 RETURNING coalesced, clock_timestamp() AS taken_at),
 covered AS (
    UPDATE secret_sync_jobs SET coalesced = m.coalesced, covers_until = m.taken_at
      FROM m WHERE id = $2 AND sync_id = $1)
SELECT j.status AS job_status, j.attempt AS job_attempt, j.covers_until AS job_covers_until,
       j.sync_id IS DISTINCT FROM $1 AND j.id IS NOT NULL AS foreign_job,
       m.coalesced AS marker_coalesced, m.taken_at AS marker_taken_at,
       (SELECT secs FROM fresh) AS debounce_wait,
       clock_timestamp() AS opened_at,
       (SELECT max(started_at) FROM secret_sync_jobs
         WHERE sync_id = $1 AND type = $3 AND status = 'succeeded') AS latest_success,
       pause.paused_at AS pause_at, pause.connection_id AS pause_connection_id,
       pause.reason AS pause_reason, pause.paused_by AS pause_by,
       s.*
  FROM (SELECT 1) AS one
  LEFT JOIN secret_sync_jobs j ON j.id = $2
  LEFT JOIN m ON true
  LEFT JOIN pause ON true
  LEFT JOIN (
    SELECT s.id, s.name, s.project_id, s.connection_id, s.is_auto_sync_enabled,
           s.sync_options, s.destination_config,
           f.id AS folder_id, f.path, e.id AS environment_id, e.slug
      FROM secret_syncs s
      LEFT JOIN secret_folders f ON f.id = s.folder_id
      LEFT JOIN environments e ON e.id = f.environment_id
     WHERE s.id = $1) AS s ON true
