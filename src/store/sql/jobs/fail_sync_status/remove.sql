-- `fail_job`, `fail_orphan`: sync $1 shows job $2 (text) failed with
-- message $3 in the status columns of the type this file is named after,
-- unless a newer job owns them.
UPDATE secret_syncs SET remove_status = 'failed', last_remove_job_id = $2, last_remove_message = $3,
       updated_at = now()
 WHERE id = $1 AND (last_remove_job_id IS NULL OR last_remove_job_id = $2)
