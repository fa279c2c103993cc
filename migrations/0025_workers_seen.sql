-- The workers the overview lists ("Workers seen, last 15 min"): each
-- worker marks itself here every METRICS_REFRESH. Before, the page read
-- every job started in the window (900,000 rows at 1,000 jobs/s) through
-- an index on started_at that every job's start and finish had to update;
-- that index served only this list, so it goes.
CREATE TABLE secret_sync_workers (
    worker_id text PRIMARY KEY,
    seen_at   timestamptz NOT NULL DEFAULT now()
);

DROP INDEX IF EXISTS secret_sync_jobs_started_idx;
