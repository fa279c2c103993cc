-- Forgets sync $1's queued marker if it is job $2's.
DELETE FROM secret_sync_queued WHERE sync_id = $1 AND job_id = $2
