-- Takes sync $1's lease (token $2, holder $3, for $4 seconds) if it is
-- free or expired, and reads job $5's row, in one statement. No row: no
-- such sync (the lease part); the job columns are NULL without a job row.
WITH taken AS (
    UPDATE secret_syncs
       SET lease_token = $2, lease_holder = $3,
           lease_expires_at = clock_timestamp() + make_interval(secs => $4)
     WHERE id = $1 AND (lease_token IS NULL OR lease_expires_at < clock_timestamp())
 RETURNING id)
SELECT EXISTS (SELECT 1 FROM taken), EXISTS (SELECT 1 FROM secret_syncs WHERE id = $1),
       j.status, j.attempt, j.covers_until,
       j.id IS NOT NULL AND j.sync_id <> $1
  FROM (SELECT 1) AS one LEFT JOIN secret_sync_jobs j ON j.id = $5
