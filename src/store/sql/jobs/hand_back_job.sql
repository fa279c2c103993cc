-- Job $1, if still running under worker $2, goes back to `pending` with
-- message $3.
UPDATE secret_sync_jobs SET status = 'pending', heartbeat_at = NULL, message = $3
 WHERE id = $1 AND status = 'running' AND worker_id = $2
