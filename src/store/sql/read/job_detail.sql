-- Job $1 of sync $2, as `job_history.sql` reads it.
SELECT id, sync_id, type, trigger, status, attempt, message,
       created_count, updated_count, deleted_count, unchanged_count, skipped_count,
       enqueued_at, started_at, finished_at, next_attempt_at, coalesced, worker_id,
       max_attempts, actor, keys
  FROM secret_sync_jobs
 WHERE id = $1 AND sync_id = $2
