-- Import and remove requests coalesce as sync requests do: at most one
-- queued, not yet started job per sync and kind (the kind with its options,
-- `JobKind::coalescing_key`: `sync`, `import:prioritize-source`, ...).
-- Existing markers are all plain sync jobs.
ALTER TABLE secret_sync_queued ADD COLUMN kind text NOT NULL DEFAULT 'sync';
ALTER TABLE secret_sync_queued DROP CONSTRAINT secret_sync_queued_pkey;
ALTER TABLE secret_sync_queued ADD PRIMARY KEY (sync_id, kind);
ALTER TABLE secret_sync_queued ALTER COLUMN kind DROP DEFAULT;

-- The trailing debounce: a queued plain sync job starts only once no request
-- has folded into it for SYNC_DEBOUNCE (or SYNC_DEBOUNCE_MAX_WAIT after its
-- first request), so a burst that outlasts a run still costs two runs.
ALTER TABLE secret_sync_queued ADD COLUMN last_request_at timestamptz NOT NULL DEFAULT now();
