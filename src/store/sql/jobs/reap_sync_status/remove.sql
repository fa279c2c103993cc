-- `reap_stale_jobs`: sync $1 shows job $2 (text), whose worker stopped,
-- `pending` again in the status columns of the type this file is named
-- after, if the dead run still shows there. The message is the job row's
-- (`reap_stale_job.sql`).
UPDATE secret_syncs SET remove_status = 'pending', last_remove_message = 'the worker running this job stopped; it runs again when the broker redelivers it', updated_at = now()
 WHERE id = $1 AND last_remove_job_id = $2 AND remove_status = 'running'
