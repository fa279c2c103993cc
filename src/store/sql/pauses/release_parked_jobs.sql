-- After a resume (issue 41): the parked (`paused`) jobs of every sync no
-- active pause holds any more. One job per sync and kind goes back to
-- `pending` and is returned for the caller to publish: the one holding
-- the sync's queued marker of that kind, else the newest. The others
-- are `skipped`, naming the job that runs for them; all of them are, if
-- the marker is held by a job that is not parked (queued on the broker).
-- A published job's row whose message is lost is republished by the
-- orphans loop (it is `pending`, `next_attempt_at` now).
WITH parked AS (
    SELECT j.id, j.sync_id, j.enqueued_at, coalesce(j.kind, j.type) AS kind
      FROM secret_sync_jobs j
      JOIN secret_syncs s ON s.id = j.sync_id
     WHERE j.status = 'paused'
       AND NOT EXISTS (
             SELECT 1 FROM secret_sync_pauses p
              WHERE p.resumed_at IS NULL
                AND (p.connection_id IS NULL OR p.connection_id = s.connection_id))
       FOR UPDATE OF j),
 ranked AS (
    SELECT parked.id, q.job_id AS marker_job,
           row_number() OVER w AS rank,
           coalesce(q.job_id, first_value(parked.id) OVER w) AS runs
      FROM parked
      LEFT JOIN secret_sync_queued q ON q.sync_id = parked.sync_id AND q.kind = parked.kind
    WINDOW w AS (PARTITION BY parked.sync_id, parked.kind
                 ORDER BY q.job_id = parked.id DESC NULLS LAST, parked.enqueued_at DESC, parked.id)),
 chosen AS (
    SELECT id FROM ranked WHERE rank = 1 AND (marker_job IS NULL OR marker_job = id)),
 folded AS (
    UPDATE secret_sync_jobs j
       SET status = 'skipped', finished_at = now(), heartbeat_at = NULL,
           message = 'Skipped: the pause ended; job ' || ranked.runs::text
                     || ' runs for this sync and covers this request'
      FROM ranked
     WHERE j.id = ranked.id AND ranked.id NOT IN (SELECT id FROM chosen))
UPDATE secret_sync_jobs j
   SET status = 'pending', next_attempt_at = now(), heartbeat_at = NULL,
       message = 'Waiting to run: the pause that held it ended'
  FROM chosen
 WHERE j.id = chosen.id
RETURNING j.id, j.sync_id, j.type, j.kind, j.attempt, j.enqueued_at, j.trigger, j.actor
