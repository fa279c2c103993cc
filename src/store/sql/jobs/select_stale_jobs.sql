-- Jobs left `running` without a heartbeat for $1 seconds.
SELECT id, sync_id, type FROM secret_sync_jobs
 WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1)
