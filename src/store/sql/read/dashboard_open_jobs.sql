-- Jobs of syncs in projects $1 waiting and running.
SELECT count(*) FILTER (WHERE j.status = 'pending'),
       count(*) FILTER (WHERE j.status = 'running')
  FROM secret_sync_jobs j
 WHERE j.status IN ('pending', 'running')
   AND j.sync_id IN (SELECT id FROM secret_syncs WHERE project_id = ANY($1))
