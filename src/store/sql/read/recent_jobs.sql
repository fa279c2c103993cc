-- The latest $2 jobs (of sync $1, or of all when NULL), newest first
-- (`job_row`). Sent unnamed and planned for the values given.
SELECT id, sync_id, type, trigger, status, attempt, message,
       created_count, updated_count, deleted_count, unchanged_count, skipped_count,
       enqueued_at, started_at, finished_at, next_attempt_at, coalesced, worker_id
  FROM secret_sync_jobs
 WHERE $1::uuid IS NULL OR sync_id = $1
 ORDER BY enqueued_at DESC, id LIMIT $2
