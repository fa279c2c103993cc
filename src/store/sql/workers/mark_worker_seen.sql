-- Marks worker $1 seen now, and forgets workers not seen for a day (a
-- restarted pod gets a new id).
WITH gone AS (
    DELETE FROM secret_sync_workers WHERE seen_at < now() - interval '1 day')
INSERT INTO secret_sync_workers (worker_id, seen_at) VALUES ($1, now())
ON CONFLICT (worker_id) DO UPDATE SET seen_at = now()
