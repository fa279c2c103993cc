-- Job $1, if its sync is in projects $2 (a job of a deleted sync belongs
-- to no project any more): the history row's 17 columns (as
-- `dashboard_jobs.sql`), then its sync and what only its page shows.
SELECT j.id, j.type, j.trigger, j.status, j.attempt, j.max_attempts, j.message,
       j.created_count, j.updated_count, j.deleted_count, j.unchanged_count,
       j.skipped_count, j.coalesced, j.enqueued_at, j.started_at, j.finished_at,
       j.worker_id, s.id, s.name, s.project_id, j.next_attempt_at, j.heartbeat_at
  FROM secret_sync_jobs j JOIN secret_syncs s ON s.id = j.sync_id
 WHERE j.id = $1 AND s.project_id = ANY($2)
