-- A page of sync $1's job history, newest first: the job row's columns
-- (`job_row`, as `select_job.sql`), then what only the history shows.
-- NULL for any: $2 type, $3 status; $4, $5 the previous page's last job
-- (its enqueue time and id); $6 limit. Sent unnamed and planned for the
-- values given (`query_replanned`): a cached generic plan cannot use the
-- index a given filter allows.
SELECT id, sync_id, type, trigger, status, attempt, message,
       created_count, updated_count, deleted_count, unchanged_count, skipped_count,
       enqueued_at, started_at, finished_at, next_attempt_at, coalesced, worker_id,
       max_attempts, actor, keys
  FROM secret_sync_jobs
 WHERE sync_id = $1
   AND ($2::text IS NULL OR type = $2)
   AND ($3::text IS NULL OR status = $3)
   AND ($4::timestamptz IS NULL OR (enqueued_at, id) < ($4, $5))
 ORDER BY enqueued_at DESC, id DESC
 LIMIT $6
