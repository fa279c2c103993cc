-- `finish_job` of a successful remove job that deletes its sync
-- (`deleteSyncOnComplete`): deletes the sync row, fenced by the lease
-- token, and writes the whole job row, in one statement, so nobody sees
-- the job succeeded with the row still there. No row returned means
-- nothing was written. Parameters as `finish_job/sync.sql`; chosen only
-- for a success ($12), which is always shown ($13), and says so.
--  $1 sync id          $2 lease token      $3 job id           $4 status
--  $5 message          $6 created count    $7 updated count    $8 deleted count
--  $9 unchanged count $10 skipped count   $11 finished (final) $12 succeeded
-- $13 shown (not skipped)                 $14 next_attempt_at $15 keys (jsonb)
-- $16 job type        $17 trigger         $18 attempt         $19 max_attempts
-- $20 enqueued_at     $21 worker_id       $22 coalesced       $23 covers_until
-- $24 started_at (NULL: now)              $25 Humanitec status (NULL: none)
-- $26 Humanitec's Retry-After in ms (NULL: none)
WITH released AS (
    DELETE FROM secret_syncs WHERE id = $1 AND lease_token = $2 AND $12 AND $13
 RETURNING id, project_id),
-- This attempt's own row (`secret_sync_job_attempts`, migration 0030): how
-- it ended ('retrying' for a failure another attempt follows), its
-- message, and Humanitec's answer ($25 HTTP status, $26 Retry-After in
-- ms), kept when the job row moves on to the next attempt. The same
-- attempt run again (after a hand-back) overwrites its row. Never for
-- another sync's job id (the job row's upsert refuses that too).
 attempted AS (
    INSERT INTO secret_sync_job_attempts AS a
        (job_id, attempt, started_at, finished_at, outcome, message,
         humanitec_status, retry_after_ms)
    SELECT $3, $18, coalesce($24, now()), now(),
           CASE WHEN $4 = 'pending' THEN 'retrying' ELSE $4 END, $5, $25, $26
      FROM released
     WHERE NOT EXISTS (SELECT 1 FROM secret_sync_jobs o WHERE o.id = $3 AND o.sync_id <> $1)
    ON CONFLICT (job_id, attempt) DO UPDATE SET
        started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
        outcome = EXCLUDED.outcome, message = EXCLUDED.message,
        humanitec_status = EXCLUDED.humanitec_status,
        retry_after_ms = EXCLUDED.retry_after_ms)
INSERT INTO secret_sync_jobs AS j
    (id, sync_id, project_id, type, trigger, status, attempt, max_attempts,
     enqueued_at, started_at, heartbeat_at, worker_id, message, finished_at,
     next_attempt_at, coalesced, covers_until, created_count, updated_count,
     deleted_count, unchanged_count, skipped_count, keys)
SELECT $3, $1, released.project_id, $16, $17, $4, $18, $19,
       $20, coalesce($24, now()), NULL, $21, $5, CASE WHEN $11 THEN now() END,
       $14, $22, $23, $6, $7,
       $8, $9, $10, $15
  FROM released
ON CONFLICT (id) DO UPDATE SET
    status = EXCLUDED.status, attempt = EXCLUDED.attempt,
    max_attempts = EXCLUDED.max_attempts, trigger = EXCLUDED.trigger,
    started_at = EXCLUDED.started_at, heartbeat_at = NULL,
    worker_id = EXCLUDED.worker_id, message = EXCLUDED.message,
    finished_at = EXCLUDED.finished_at, next_attempt_at = EXCLUDED.next_attempt_at,
    coalesced = GREATEST(j.coalesced, EXCLUDED.coalesced),
    covers_until = coalesce(j.covers_until, EXCLUDED.covers_until),
    created_count = EXCLUDED.created_count, updated_count = EXCLUDED.updated_count,
    deleted_count = EXCLUDED.deleted_count,
    unchanged_count = EXCLUDED.unchanged_count,
    skipped_count = EXCLUDED.skipped_count, keys = EXCLUDED.keys
  WHERE j.sync_id = EXCLUDED.sync_id
RETURNING id
