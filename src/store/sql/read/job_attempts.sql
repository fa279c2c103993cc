-- Every attempt on record of job $1, first first (the caller has checked
-- the job is one it may see): `attempt_row` reads these columns.
SELECT attempt, started_at, finished_at, outcome, message, humanitec_status,
       retry_after_ms
  FROM secret_sync_job_attempts
 WHERE job_id = $1
 ORDER BY attempt
