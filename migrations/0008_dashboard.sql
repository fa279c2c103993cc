-- The dashboard's overview: jobs finished in the last hour (per minute and
-- outcome) and workers that started a job recently.
-- (status and sync_id included so the per-minute counts read only the index)
CREATE INDEX IF NOT EXISTS secret_sync_jobs_finished_idx
    ON secret_sync_jobs (finished_at) INCLUDE (status, sync_id) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS secret_sync_jobs_started_idx
    ON secret_sync_jobs (started_at) WHERE started_at IS NOT NULL;
