-- The seed's `secretSync.syncOptions` (its 200 schema) allows the keys
-- initialSyncBehavior, keySchema and disableSecretDeletion, and
-- initialSyncBehavior `overwrite-destination` only. Syncs take Infisical's
-- wider options too (issue 39): `import-prioritize-source` and
-- `import-prioritize-destination`, which the sync's first job carries out
-- (it imports, then pushes: see docs/api.md), and `recursive`. They stay in
-- `sync_options`, where the worker reads them; this view shows the seed's
-- object: an import behaviour as `overwrite-destination` (what every run
-- after the first does), and no key the seed does not have. Otherwise the
-- view is 0002's, unchanged.
CREATE OR REPLACE VIEW secret_syncs_api AS
SELECT s.id,
       jsonb_build_object(
           'id', s.id,
           'name', s.name,
           'description', s.description,
           'isAutoSyncEnabled', s.is_auto_sync_enabled,
           'version', s.version,
           'projectId', s.project_id,
           'folderId', s.folder_id,
           'connectionId', s.connection_id,
           'createdAt', s.created_at,
           'updatedAt', s.updated_at,
           'syncStatus', s.sync_status,
           'lastSyncJobId', s.last_sync_job_id,
           'lastSyncMessage', s.last_sync_message,
           'lastSyncedAt', s.last_synced_at,
           'importStatus', s.import_status,
           'lastImportJobId', s.last_import_job_id,
           'lastImportMessage', s.last_import_message,
           'lastImportedAt', s.last_imported_at,
           'removeStatus', s.remove_status,
           'lastRemoveJobId', s.last_remove_job_id,
           'lastRemoveMessage', s.last_remove_message,
           'lastRemovedAt', s.last_removed_at,
           'syncOptions', CASE
               WHEN jsonb_typeof(s.sync_options) = 'object' THEN jsonb_strip_nulls(jsonb_build_object(
                   'initialSyncBehavior',
                   CASE WHEN s.sync_options->>'initialSyncBehavior'
                             IN ('import-prioritize-source', 'import-prioritize-destination')
                        THEN to_jsonb('overwrite-destination'::text)
                        ELSE s.sync_options->'initialSyncBehavior' END,
                   'keySchema', s.sync_options->'keySchema',
                   'disableSecretDeletion', s.sync_options->'disableSecretDeletion'))
               ELSE s.sync_options END,
           -- a deleted connection still shows its id, so the API can say so
           'connection', jsonb_build_object(
               'app', coalesce(c.app, 'humanitec'),
               'name', coalesce(c.name, '(deleted connection)'),
               'id', s.connection_id),
           'environment', CASE WHEN e.id IS NULL THEN NULL
                               ELSE jsonb_build_object('slug', e.slug, 'name', e.name, 'id', e.id) END,
           'folder', CASE WHEN f.id IS NULL THEN NULL
                          ELSE jsonb_build_object('id', f.id, 'path', f.path) END,
           'destination', s.destination,
           'destinationConfig', s.destination_config
       ) AS secret_sync
  FROM secret_syncs s
  LEFT JOIN app_connections c ON c.id = s.connection_id
  LEFT JOIN secret_folders f ON f.id = s.folder_id
  LEFT JOIN environments e ON e.id = f.environment_id;
