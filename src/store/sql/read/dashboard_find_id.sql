-- What id $1, pasted into the sync list's search, names among projects
-- $2: 'job' (a job of a sync in $2), 'sync' (a sync in $2), or no row. A
-- job or sync of another project answers no row, exactly as an id that
-- does not exist; a job of a deleted sync belongs to no project any more.
SELECT 'job' FROM secret_sync_jobs j JOIN secret_syncs s ON s.id = j.sync_id
 WHERE j.id = $1 AND s.project_id = ANY($2)
UNION ALL
SELECT 'sync' FROM secret_syncs s WHERE s.id = $1 AND s.project_id = ANY($2)
 LIMIT 1
