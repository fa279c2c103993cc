-- The latest $2 jobs of sync $1, newest first (`history_row`).
SELECT id, type, trigger, status, attempt, max_attempts, message,
       created_count, updated_count, deleted_count, unchanged_count,
       skipped_count, coalesced, enqueued_at, started_at, finished_at, worker_id
  FROM secret_sync_jobs WHERE sync_id = $1
 ORDER BY enqueued_at DESC, id LIMIT $2
