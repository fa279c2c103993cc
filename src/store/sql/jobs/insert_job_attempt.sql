-- An attempt that ended without an outcome of its own (`fail_job`: it
-- panicked, it could not be run for too long, the database refused its
-- outcome), after the job row is written in the same transaction: job $1
-- of sync $2, attempt $3, started at $4 (NULL: now), failed with message
-- $5. Nothing for another sync's job id. The same attempt recorded before
-- is overwritten (this is its last word).
INSERT INTO secret_sync_job_attempts
    (job_id, attempt, started_at, finished_at, outcome, message,
     humanitec_status, retry_after_ms)
SELECT j.id, $3, coalesce($4, now()), now(), 'failed', $5, NULL, NULL
  FROM secret_sync_jobs j
 WHERE j.id = $1 AND j.sync_id = $2
ON CONFLICT (job_id, attempt) DO UPDATE SET
    started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    outcome = EXCLUDED.outcome, message = EXCLUDED.message,
    humanitec_status = EXCLUDED.humanitec_status,
    retry_after_ms = EXCLUDED.retry_after_ms
