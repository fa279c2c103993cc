-- secret-sync schema, version 1. The tables and columns named in the brief are
-- a contract with other services: add to them, never rename or drop.

CREATE TABLE projects (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE environments (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id  text NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    slug        text NOT NULL,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, slug)
);

CREATE TABLE secret_folders (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    environment_id  uuid NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    -- normalised: "/" or "/a/b", never a trailing slash
    path            text NOT NULL CHECK (path = '/' OR path ~ '^(/[^/]+)+$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (environment_id, path)
);

-- encrypted_* columns: 0x01 || 12-byte nonce || AES-256-GCM ciphertext+tag.
CREATE TABLE secrets (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    folder_id          uuid NOT NULL REFERENCES secret_folders(id) ON DELETE CASCADE,
    key                text NOT NULL,
    encrypted_value    bytea NOT NULL,
    encrypted_comment  bytea NULL,
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (folder_id, key)
);

CREATE TABLE app_connections (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id             text NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    app                    text NOT NULL DEFAULT 'humanitec' CHECK (app = 'humanitec'),
    name                   text NOT NULL,
    description            text NULL,
    method                 text NOT NULL DEFAULT 'api-token' CHECK (method = 'api-token'),
    -- encrypted JSON {"apiToken": "..."}
    encrypted_credentials  bytea NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE secret_syncs (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                  text NOT NULL,
    description           text NULL,
    destination           text NOT NULL DEFAULT 'humanitec' CHECK (destination = 'humanitec'),
    is_auto_sync_enabled  boolean NOT NULL DEFAULT true,
    version               integer NOT NULL DEFAULT 1,
    project_id            text NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    folder_id             uuid NULL REFERENCES secret_folders(id) ON DELETE SET NULL,
    -- no foreign key on purpose: a deleted connection must not delete the
    -- sync or its history; its jobs fail with "connection not found" instead.
    connection_id         uuid NOT NULL,
    sync_options          jsonb NOT NULL DEFAULT '{"initialSyncBehavior": "overwrite-destination"}',
    destination_config    jsonb NOT NULL,
    sync_status           text NULL CHECK (sync_status IN ('pending', 'running', 'succeeded', 'failed')),
    last_sync_job_id      text NULL,
    last_sync_message     text NULL CHECK (char_length(last_sync_message) <= 1024),
    last_synced_at        timestamptz NULL,
    import_status         text NULL CHECK (import_status IN ('pending', 'running', 'succeeded', 'failed')),
    last_import_job_id    text NULL,
    last_import_message   text NULL CHECK (char_length(last_import_message) <= 1024),
    last_imported_at      timestamptz NULL,
    remove_status         text NULL CHECK (remove_status IN ('pending', 'running', 'succeeded', 'failed')),
    last_remove_job_id    text NULL,
    last_remove_message   text NULL CHECK (char_length(last_remove_message) <= 1024),
    last_removed_at       timestamptz NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);
CREATE INDEX secret_syncs_folder_idx ON secret_syncs (folder_id);
CREATE INDEX secret_syncs_connection_idx ON secret_syncs (connection_id);
-- "all failing syncs" for the dashboard
CREATE INDEX secret_syncs_failing_idx ON secret_syncs (updated_at DESC)
    WHERE sync_status = 'failed' OR import_status = 'failed' OR remove_status = 'failed';

-- One row per job (id = job id). No foreign key to secret_syncs: history
-- outlives a sync deleted with deleteSyncOnComplete.
CREATE TABLE secret_sync_jobs (
    id               uuid PRIMARY KEY,
    sync_id          uuid NOT NULL,
    type             text NOT NULL CHECK (type IN ('sync', 'import', 'remove')),
    trigger          text NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    attempt          integer NOT NULL DEFAULT 1,
    max_attempts     integer NOT NULL DEFAULT 1,
    message          text NULL CHECK (char_length(message) <= 1024),
    created_count    integer NOT NULL DEFAULT 0,
    updated_count    integer NOT NULL DEFAULT 0,
    deleted_count    integer NOT NULL DEFAULT 0,
    unchanged_count  integer NOT NULL DEFAULT 0,
    skipped_count    integer NOT NULL DEFAULT 0,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz NULL,
    finished_at      timestamptz NULL,
    next_attempt_at  timestamptz NULL,
    -- liveness of the worker running it; a stale heartbeat on a running row
    -- means the worker died (the reaper hands the row back to pending)
    heartbeat_at     timestamptz NULL,
    worker_id        text NULL
);
-- "latest jobs of a sync"
CREATE INDEX secret_sync_jobs_sync_idx ON secret_sync_jobs (sync_id, enqueued_at DESC);
-- supersede check: latest successful sync run's start
CREATE INDEX secret_sync_jobs_succeeded_idx ON secret_sync_jobs (sync_id, type, started_at DESC)
    WHERE status = 'succeeded';
-- failing and stuck jobs
CREATE INDEX secret_sync_jobs_status_idx ON secret_sync_jobs (status, finished_at DESC)
    WHERE status IN ('failed', 'running', 'pending');

-- What each sync last pushed, per destination key: a keyed hash (HMAC, never
-- a plain hash) of value+comment, and the secret_version Humanitec answered.
-- Lets a sync skip keys that neither the source nor the destination changed.
CREATE TABLE secret_sync_pushed_keys (
    sync_id         uuid NOT NULL REFERENCES secret_syncs(id) ON DELETE CASCADE,
    destination     text NOT NULL,   -- org/app[/env] the key was pushed to
    key             text NOT NULL,   -- destination key (after the key schema)
    fingerprint     bytea NOT NULL,
    secret_version  text NULL,
    pushed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sync_id, destination, key)
);
