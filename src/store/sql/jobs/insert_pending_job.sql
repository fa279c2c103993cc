-- `record_enqueued`: job $1 of sync $2 (type $3, trigger $4, actor $5,
-- kind $6) as `pending`, counting the requests its queued marker folded
-- in; nothing if the job already has a row (the worker wrote it first).
INSERT INTO secret_sync_jobs (id, sync_id, type, trigger, status, coalesced, actor, kind)
VALUES ($1, $2, $3, $4, 'pending',
        coalesce((SELECT coalesced FROM secret_sync_queued WHERE sync_id = $2 AND job_id = $1), 1),
        $5, $6)
ON CONFLICT (id) DO NOTHING RETURNING id
