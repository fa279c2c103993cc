-- `finish_job` of successful remove jobs that delete their syncs
-- (`deleteSyncOnComplete`), several at once as `finish_job/sync.sql`:
-- deletes each sync row, fenced by its lease token, and writes the whole
-- job row, in one statement, so nobody sees the job succeeded with the row
-- still there. A job whose id is not returned had nothing written.
-- Parameters as `finish_job/sync.sql`; chosen only for a success ($12),
-- which is always shown ($13), and says so.
--  $1 sync id          $2 lease token      $3 job id           $4 status
--  $5 message          $6 created count    $7 updated count    $8 deleted count
--  $9 unchanged count $10 skipped count   $11 finished (final) $12 succeeded
-- $13 shown (not skipped)                 $14 next_attempt_at $15 keys (jsonb)
-- $16 job type        $17 trigger         $18 attempt         $19 max_attempts
-- $20 enqueued_at     $21 worker_id       $22 coalesced       $23 covers_until
-- $24 started_at (NULL: now)              $25 Humanitec status (NULL: none)
-- $26 Humanitec's Retry-After in ms (NULL: none)
WITH f AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                         $6::int[], $7::int[], $8::int[], $9::int[], $10::int[],
                         $11::bool[], $12::bool[], $13::bool[], $14::timestamptz[],
                         $15::jsonb[], $16::text[], $17::text[], $18::int[], $19::int[],
                         $20::timestamptz[], $21::text[], $22::int[], $23::timestamptz[],
                         $24::timestamptz[], $25::int[], $26::int[])
        AS f (sync_id, lease_token, job_id, status, message, created, updated,
              deleted, unchanged, skipped, finished, succeeded, shown,
              next_attempt_at, keys, job_type, trigger, attempt, max_attempts,
              enqueued_at, worker_id, coalesced, covers_until, started_at,
              humanitec_status, retry_after_ms)
     ORDER BY sync_id),
 released AS (
    DELETE FROM secret_syncs s USING f
     WHERE s.id = f.sync_id AND s.lease_token = f.lease_token AND f.succeeded AND f.shown
 RETURNING f.*, s.project_id),
-- Each attempt's own row (`secret_sync_job_attempts`, migration 0030): how
-- it ended ('retrying' for a failure another attempt follows), its
-- message, and Humanitec's answer (HTTP status, Retry-After in ms), kept
-- when the job row moves on to the next attempt. The same attempt run
-- again (after a hand-back) overwrites its row. Never for another sync's
-- job id (the job row's upsert refuses that too).
 attempted AS (
    INSERT INTO secret_sync_job_attempts AS a
        (job_id, attempt, started_at, finished_at, outcome, message,
         humanitec_status, retry_after_ms)
    SELECT r.job_id, r.attempt, coalesce(r.started_at, now()), now(),
           CASE WHEN r.status = 'pending' THEN 'retrying' ELSE r.status END, r.message,
           r.humanitec_status, r.retry_after_ms
      FROM released r
     WHERE NOT EXISTS (SELECT 1 FROM secret_sync_jobs o WHERE o.id = r.job_id AND o.sync_id <> r.sync_id)
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
SELECT r.job_id, r.sync_id, r.project_id, r.job_type, r.trigger, r.status, r.attempt, r.max_attempts,
       r.enqueued_at, coalesce(r.started_at, now()), NULL, r.worker_id, r.message,
       CASE WHEN r.finished THEN now() END,
       r.next_attempt_at, r.coalesced, r.covers_until, r.created, r.updated,
       r.deleted, r.unchanged, r.skipped, r.keys
  FROM released r
 ORDER BY r.job_id
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
