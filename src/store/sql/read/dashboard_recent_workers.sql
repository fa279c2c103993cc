-- Workers seen alive in the last $1 minutes, with when (at most 50).
SELECT worker_id, seen_at FROM secret_sync_workers
 WHERE seen_at > now() - make_interval(mins => $1::int4)
 ORDER BY seen_at DESC, worker_id LIMIT 50
