-- `park_job`: job $2 of sync $1 becomes the sync's queued job of kind $3
-- unless one is queued already (issue 41), so requests made while the
-- pause lasts fold into a parked job rather than queue more; marked
-- published (the job exists), so it is never taken over as unconfirmed.
INSERT INTO secret_sync_queued (sync_id, job_id, kind, published_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (sync_id, kind) DO NOTHING
