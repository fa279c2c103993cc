-- Secret imports (the brief's `secret_imports`, as Infisical's): folder
-- `folder_id` also sees the secrets of folder `import_path` of environment
-- `import_environment_id` (same project), in `position` order.
CREATE TABLE IF NOT EXISTS secret_imports (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    folder_id             uuid NOT NULL REFERENCES secret_folders(id) ON DELETE CASCADE,
    import_environment_id uuid NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    import_path           text NOT NULL,
    position              int  NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS secret_imports_folder ON secret_imports (folder_id, position);

-- The folders a sync's last run read besides its own (imports, the folders
-- its references point at), by environment slug and path: a change there
-- auto-syncs it too.
CREATE TABLE secret_sync_sources (
    sync_id          uuid NOT NULL REFERENCES secret_syncs(id) ON DELETE CASCADE,
    environment_slug text NOT NULL,
    path             text NOT NULL,
    PRIMARY KEY (sync_id, environment_slug, path)
);
CREATE INDEX secret_sync_sources_folder ON secret_sync_sources (environment_slug, path);
