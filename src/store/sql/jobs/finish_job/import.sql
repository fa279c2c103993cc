-- `finish_job` of a job of the type this file is named after: releases
-- the sync's lease and shows the outcome in that type's status columns of
-- `secret_syncs` ($13: shown), claiming them for this job as `start_job`
-- does (a run too short to have shown `running` never claimed them);
-- queues the notifications of a changed state; and writes the whole job
-- row (an upsert, as `start_job`'s, so a run too short to have shown
-- `running` is recorded in this one statement). The sync row is fenced by
-- the lease token: no row returned means nothing was written. The three
-- job types' files differ only in the status columns (a unit test in
-- `sql/mod.rs` checks).
--  $1 sync id          $2 lease token      $3 job id           $4 status
--  $5 message          $6 created count    $7 updated count    $8 deleted count
--  $9 unchanged count $10 skipped count   $11 finished (final) $12 succeeded
-- $13 shown (not skipped)                 $14 next_attempt_at $15 keys (jsonb)
-- $16 job type        $17 trigger         $18 attempt         $19 max_attempts
-- $20 enqueued_at     $21 worker_id       $22 coalesced       $23 covers_until
-- $24 started_at (NULL: now)              $25 Humanitec status (NULL: none)
-- $26 Humanitec's Retry-After in ms (NULL: none)
WITH released AS (
    UPDATE secret_syncs
       SET lease_token = NULL, lease_holder = NULL, lease_expires_at = NULL,
           import_status = CASE WHEN $13 THEN $4 ELSE import_status END,
           last_import_job_id = CASE WHEN $13 THEN $3::uuid::text ELSE last_import_job_id END,
           last_import_message = CASE WHEN $13 THEN $5 ELSE last_import_message END,
           last_imported_at = CASE WHEN $13 AND $12 THEN now() ELSE last_imported_at END,
           updated_at = CASE WHEN $13 THEN now() ELSE updated_at END
     WHERE id = $1 AND lease_token = $2
 RETURNING id, project_id),
-- The notification outbox rows of a finish that changes the sync's state
-- for this job type: failed after its last attempt where the last
-- finished job of the type did not fail, or succeeded where it did
-- (recovered); one row per channel of the sync's project. Without
-- channels it is one index probe.
 noted AS (
    INSERT INTO notification_outbox
        (channel_id, project_id, sync_id, job_id, job_type, event, message)
    SELECT c.id, c.project_id, $1, $3, $16::text,
           CASE WHEN $4 = 'failed' THEN 'failed' ELSE 'recovered' END, $5
      FROM released JOIN notification_channels c ON c.project_id = released.project_id
     WHERE $4 IN ('failed', 'succeeded')
       AND ($4 = 'failed') = (coalesce(
             (SELECT p.status FROM secret_sync_jobs p
               WHERE p.sync_id = $1 AND p.type = $16 AND p.id <> $3
                 AND p.status IN ('failed', 'succeeded')
               ORDER BY p.finished_at DESC NULLS LAST LIMIT 1),
             'succeeded') <> 'failed')),
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
