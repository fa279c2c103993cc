-- Inserts or resets a job row. The same upsert opens `start_job/*.sql`.
--  $1 job id        $2 sync id      $3 type          $4 trigger
--  $5 status        $6 attempt      $7 max_attempts  $8 enqueued_at
--  $9 worker_id    $10 message     $11 finished_at  $12 coalesced
-- $13 covers_until $14 started_at (NULL: now)
INSERT INTO secret_sync_jobs
    (id, sync_id, type, trigger, status, attempt, max_attempts, enqueued_at,
     started_at, heartbeat_at, worker_id, message, finished_at, next_attempt_at, coalesced,
     covers_until)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($14, now()), now(), $9, $10, $11, NULL, $12,
        $13)
ON CONFLICT (id) DO UPDATE SET
    status = EXCLUDED.status, attempt = EXCLUDED.attempt,
    max_attempts = EXCLUDED.max_attempts, trigger = EXCLUDED.trigger,
    started_at = EXCLUDED.started_at, heartbeat_at = now(), worker_id = EXCLUDED.worker_id,
    message = EXCLUDED.message, finished_at = EXCLUDED.finished_at,
    next_attempt_at = NULL,
    coalesced = GREATEST(secret_sync_jobs.coalesced, EXCLUDED.coalesced),
    covers_until = coalesce(secret_sync_jobs.covers_until, EXCLUDED.covers_until),
    created_count = 0, updated_count = 0, deleted_count = 0,
    unchanged_count = 0, skipped_count = 0
  -- A job id is its sync's alone: a message naming another sync's job
  -- never rewrites that job's row.
  WHERE secret_sync_jobs.sync_id = EXCLUDED.sync_id
