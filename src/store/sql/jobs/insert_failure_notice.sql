-- The notification outbox rows of job $2 of sync $1 (type $3) failing
-- without running, with message $4: one per channel of the sync's project
-- where the last finished job of the type did not fail (as
-- `finish_job/*.sql` does for a job that ran).
INSERT INTO notification_outbox
    (channel_id, project_id, sync_id, job_id, job_type, event, message)
SELECT c.id, c.project_id, $1, $2, $3::text, 'failed', $4
  FROM notification_channels c
 WHERE c.project_id = (SELECT project_id FROM secret_syncs WHERE id = $1)
   AND coalesce(
         (SELECT p.status FROM secret_sync_jobs p
           WHERE p.sync_id = $1 AND p.type = $3 AND p.id <> $2
             AND p.status IN ('failed', 'succeeded')
           ORDER BY p.finished_at DESC NULLS LAST LIMIT 1),
         'succeeded') <> 'failed'
