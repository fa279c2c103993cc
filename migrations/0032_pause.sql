-- Holding Humanitec writes (issue 41): a pause of one connection (one
-- Humanitec org and token) or of the whole instance (`connection_id`
-- NULL). A row is a pause; it is active until `resumed_at` is set, and
-- kept afterwards (who paused, why, when, who resumed). At most one
-- active pause per scope (the partial unique index).
--
-- While a pause covers a sync, its jobs are not run: each one is parked
-- on its job row with status `paused` (the sync row stays `pending`, one
-- of the four statuses other services know), its delivery acknowledged,
-- and its queued marker kept, so new requests fold into it as usual. A
-- resume publishes one parked job per sync and kind again.
CREATE TABLE IF NOT EXISTS secret_sync_pauses (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    connection_id uuid NULL REFERENCES app_connections(id) ON DELETE CASCADE,
    -- The connection's project (who may see and lift it); NULL for the instance.
    project_id    text NULL REFERENCES projects(id) ON DELETE CASCADE,
    reason        text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    paused_by     text NOT NULL CHECK (char_length(paused_by) <= 300),
    paused_at     timestamptz NOT NULL DEFAULT now(),
    resumed_by    text NULL CHECK (char_length(resumed_by) <= 300),
    resumed_at    timestamptz NULL,
    CHECK ((connection_id IS NULL) = (project_id IS NULL))
);

CREATE UNIQUE INDEX IF NOT EXISTS secret_sync_pauses_active_idx
    ON secret_sync_pauses ((coalesce(connection_id, '00000000-0000-0000-0000-000000000000'::uuid)))
    WHERE resumed_at IS NULL;

-- A parked job: `paused`, beside the brief's five.
ALTER TABLE secret_sync_jobs DROP CONSTRAINT IF EXISTS secret_sync_jobs_status_check;
ALTER TABLE secret_sync_jobs ADD CONSTRAINT secret_sync_jobs_status_check
    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'paused'));

-- What a resume looks for.
CREATE INDEX IF NOT EXISTS secret_sync_jobs_paused_idx
    ON secret_sync_jobs (sync_id) WHERE status = 'paused';
