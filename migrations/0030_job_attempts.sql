-- Every attempt of a job on record (issue 41): when it started and ended,
-- how it ended, its message (the job row's words, never a value), and
-- Humanitec's answer (HTTP status, Retry-After) when a Humanitec call ended
-- it. The job row keeps only its last attempt's; these rows keep them all.
-- Written by the statement that writes the job's outcome
-- (`jobs/finish_job/*.sql`), so an attempt costs no round trip of its own;
-- a job failed without an outcome (`fail_job`) adds one in its
-- transaction. Retention is the job's: deleting a job row deletes its
-- attempts.
--   outcome: succeeded, retrying (failed; another attempt follows), failed
--            (the job's last), skipped
CREATE TABLE IF NOT EXISTS secret_sync_job_attempts (
    job_id           uuid NOT NULL REFERENCES secret_sync_jobs(id) ON DELETE CASCADE,
    attempt          int NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    outcome          text NOT NULL
                     CHECK (outcome IN ('succeeded', 'retrying', 'failed', 'skipped')),
    message          text NULL CHECK (char_length(message) <= 1024),
    humanitec_status int NULL,
    retry_after_ms   int NULL,
    PRIMARY KEY (job_id, attempt)
);
