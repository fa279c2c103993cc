-- Seconds since the oldest `pending` job was enqueued (0 when none).
SELECT coalesce(extract(epoch FROM now() - min(enqueued_at)), 0)::float8
  FROM secret_sync_jobs WHERE status = 'pending'
