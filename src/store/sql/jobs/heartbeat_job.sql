-- A running job $1's heartbeat, and its sync $2's lease (token $3)
-- renewed to $4 seconds from now. No row: the lease is no longer ours.
-- The sync row is locked first: the job row's update, a `WITH` the
-- statement does not read, runs after it (the lock order). `paused`: a
-- pause holds the sync's writes now (issue 41), one index probe.
WITH beat AS (
    UPDATE secret_sync_jobs SET heartbeat_at = now()
     WHERE id = $1 AND status = 'running' RETURNING id)
UPDATE secret_syncs
   SET lease_expires_at = clock_timestamp() + make_interval(secs => $4)
 WHERE id = $2 AND lease_token = $3
RETURNING id, EXISTS (
    SELECT 1 FROM secret_sync_pauses p
     WHERE p.resumed_at IS NULL
       AND (p.connection_id IS NULL OR p.connection_id = secret_syncs.connection_id)) AS paused
