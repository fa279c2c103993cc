-- The dashboard's overview: jobs finished in the last hour (per minute and
-- outcome) and workers that started a job recently.
CREATE INDEX IF NOT EXISTS secret_sync_jobs_finished_idx
    ON secret_sync_jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS secret_sync_jobs_started_idx
    ON secret_sync_jobs (started_at) WHERE started_at IS NOT NULL;
