-- `record_enqueued`: the broker confirmed job $2, so sync $1's queued
-- marker (if it is still that job's) is published; with the marker, the
-- sync row is locked (before the job row, the lock order). No row: no
-- marker held.
WITH m AS (
    UPDATE secret_sync_queued SET published_at = now()
     WHERE sync_id = $1 AND job_id = $2 RETURNING sync_id)
SELECT 1 FROM secret_syncs s JOIN m ON s.id = m.sync_id
   FOR NO KEY UPDATE OF s
