-- `hand_back_job`: sync $1 shows job $2 (text) `pending` again, with
-- message $3, in the status columns of the type this file is named after,
-- if the job's run still shows there.
UPDATE secret_syncs SET import_status = 'pending', last_import_message = $3, updated_at = now()
 WHERE id = $1 AND last_import_job_id = $2 AND import_status = 'running'
