-- Claims up to $2 `pending` jobs nobody touched for $1 seconds past their
-- enqueue (or their scheduled next attempt), moving their next attempt
-- on by $1 seconds.
UPDATE secret_sync_jobs SET next_attempt_at = now() + make_interval(secs => $1)
 WHERE id IN (
       SELECT id FROM secret_sync_jobs
        WHERE status = 'pending' AND heartbeat_at IS NULL
          AND coalesce(next_attempt_at, enqueued_at) < now() - make_interval(secs => $1)
        ORDER BY enqueued_at LIMIT $2
          FOR UPDATE SKIP LOCKED)
RETURNING id, sync_id, type, kind
