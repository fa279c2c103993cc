-- Job $1, still running without a heartbeat for $2 seconds, goes back to
-- `pending` (skipped if someone holds its row). The message is also the
-- sync row's (`reap_sync_status/*.sql`).
UPDATE secret_sync_jobs
   SET status = 'pending', heartbeat_at = NULL, message = 'the worker running this job stopped; it runs again when the broker redelivers it'
 WHERE id = (SELECT id FROM secret_sync_jobs
              WHERE id = $1 AND status = 'running'
                AND heartbeat_at < now() - make_interval(secs => $2)
                FOR UPDATE SKIP LOCKED)
