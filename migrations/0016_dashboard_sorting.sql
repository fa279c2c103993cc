-- The dashboard's sync list sorts by "last failure" and, by default, puts
-- the most recent failure first: each sync's newest failed job is one probe
-- of this index. Only failed jobs are in it, so successful runs (the
-- common write) do not touch it.
CREATE INDEX IF NOT EXISTS secret_sync_jobs_failed_idx
    ON secret_sync_jobs (sync_id, finished_at DESC)
    WHERE status = 'failed' AND finished_at IS NOT NULL;
