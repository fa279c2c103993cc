-- Fails orphaned job $1 with message $2, if it is still `pending`.
UPDATE secret_sync_jobs SET status = 'failed', message = $2, finished_at = now()
 WHERE id = $1 AND status = 'pending'
