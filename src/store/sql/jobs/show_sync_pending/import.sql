-- `record_enqueued`: sync $1 shows job $2 (text) `pending` in the status
-- columns of the type this file is named after; never over a run in
-- progress (it will report its own status).
UPDATE secret_syncs SET import_status = 'pending', last_import_job_id = $2, updated_at = now()
 WHERE id = $1 AND import_status IS DISTINCT FROM 'running'
