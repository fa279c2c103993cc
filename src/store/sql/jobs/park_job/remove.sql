-- `park_job` of a job of the type this file is named after (issue 41): a
-- pause holds the sync, so the job waits on its row: the sync's lease
-- released (fenced by its token $2: no row returned means nothing was
-- written), the type's status columns show it `pending` with the
-- pause's message $4 (the four statuses other services know), and the
-- job row, upserted as `finish_job`'s, is `paused`, kept until a resume
-- publishes it again. The three job types' files differ only in the
-- status columns (a unit test in `sql/mod.rs` checks).
--  $1 sync id       $2 lease token   $3 job id        $4 message
--  $5 job type      $6 trigger       $7 attempt       $8 max_attempts
--  $9 enqueued_at  $10 worker_id    $11 coalesced    $12 covers_until
-- $13 kind (`JobKind::coalescing_key`)
WITH released AS (
    UPDATE secret_syncs
       SET lease_token = NULL, lease_holder = NULL, lease_expires_at = NULL,
           remove_status = 'pending', last_remove_job_id = $3::uuid::text,
           last_remove_message = $4, updated_at = now()
     WHERE id = $1 AND lease_token = $2
 RETURNING id, project_id)
INSERT INTO secret_sync_jobs AS j
    (id, sync_id, project_id, type, trigger, status, attempt, max_attempts,
     enqueued_at, heartbeat_at, worker_id, message, finished_at, next_attempt_at,
     coalesced, covers_until, kind)
SELECT $3, $1, released.project_id, $5, $6, 'paused', $7, $8,
       $9, NULL, $10, $4, NULL, NULL,
       $11, $12, $13
  FROM released
ON CONFLICT (id) DO UPDATE SET
    status = 'paused', attempt = EXCLUDED.attempt, max_attempts = EXCLUDED.max_attempts,
    heartbeat_at = NULL, worker_id = EXCLUDED.worker_id, message = EXCLUDED.message,
    finished_at = NULL, next_attempt_at = NULL,
    coalesced = GREATEST(j.coalesced, EXCLUDED.coalesced),
    covers_until = coalesce(j.covers_until, EXCLUDED.covers_until),
    kind = coalesce(j.kind, EXCLUDED.kind)
  WHERE j.sync_id = EXCLUDED.sync_id
RETURNING id
