-- The key names each job touched (names only, never values), as
-- {"created": [...], "updated": [{"key", "reason"}], "deleted": [...],
-- "skipped": [...]}; NULL when it touched none (a no-op run writes nothing
-- more than before).
ALTER TABLE secret_sync_jobs ADD COLUMN keys jsonb NULL;
-- Who asked for the job, where the enqueuer knew: an API token's name and
-- id, or `cli` (events and other services leave it NULL; `trigger` says).
ALTER TABLE secret_sync_jobs ADD COLUMN actor text NULL;

-- Job history over the API pages newest first through one sync's jobs on
-- the existing (sync_id, enqueued_at DESC) index: no new index on the hot
-- table.

-- Who did what: one row per control-plane action, written in the same
-- transaction as the action where the action is a database write.
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    -- token (an API token or its dashboard session), cli, auto-sync, schedule
    actor_kind     text NOT NULL,
    actor_token_id uuid NULL,
    actor_name     text NOT NULL,
    -- NULL: instance-wide (admin) actions, shown to admins only
    project_id     text NULL,
    action         text NOT NULL,
    target_type    text NOT NULL,
    target_id      text NULL,
    -- the names of the fields that changed; credentials by name only
    changes        jsonb NOT NULL DEFAULT '[]',
    req_id         text NULL
);
CREATE INDEX audit_log_project_at ON audit_log (project_id, at DESC, id DESC);
CREATE INDEX audit_log_at ON audit_log (at);
