-- One run per sync at a time without holding a database connection: a lease
-- on the sync's row (taken with one conditional UPDATE, renewed by the
-- running job's heartbeat, released by its owner; a dead worker's lease
-- simply expires). Works through PgBouncer in transaction mode, unlike the
-- session advisory lock it replaces.
ALTER TABLE secret_syncs
    ADD COLUMN lease_token       uuid        NULL,
    ADD COLUMN lease_holder      text        NULL,   -- "worker-id job-id", for operators
    ADD COLUMN lease_expires_at  timestamptz NULL;

-- Coalescing: at most one queued, not yet started sync job per sync. Enqueuing
-- a sync job while one is queued folds into it (coalesced + 1) instead of
-- publishing another; the runner deletes the marker when the job starts, under
-- the lease and before reading the source, so a change arriving during a run
-- queues exactly one more job. No foreign key: a job for an unknown sync is
-- still published and fails with "sync not found".
CREATE TABLE secret_sync_queued (
    sync_id       uuid PRIMARY KEY,
    job_id        uuid NOT NULL,
    coalesced     integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- set once the broker confirmed the job; an unconfirmed marker older than
    -- a few seconds belongs to an enqueuer that died and is taken over
    published_at  timestamptz NULL
);

-- How many enqueue requests (events, manual or API triggers) this job absorbed,
-- and when it stopped absorbing them (its marker was taken at its start): a
-- run that started later read everything it covers, so only such a run may
-- supersede it.
ALTER TABLE secret_sync_jobs
    ADD COLUMN coalesced    integer     NOT NULL DEFAULT 1,
    ADD COLUMN covers_until timestamptz NULL;
