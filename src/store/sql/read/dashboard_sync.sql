-- Sync $1, if it is in projects $2, with what its page shows: the sync
-- list's 14 columns (as `dashboard_syncs.sql`), then the detail's.
SELECT s.id, s.name, s.project_id, s.destination_config->>'org',
       s.destination_config->>'app', s.destination_config->>'env', e.slug, f.path,
       s.sync_status, s.last_synced_at, s.last_sync_message, s.is_auto_sync_enabled,
       s.last_failed_at, c.name,
       s.description, s.destination_config->>'scope',
       s.sync_options->>'keySchema', s.sync_options->>'initialSyncBehavior',
       s.import_status, s.last_import_message, s.last_imported_at,
       s.remove_status, s.last_remove_message, s.last_removed_at,
       s.lease_holder, s.created_at, s.updated_at
  FROM secret_syncs s
  LEFT JOIN secret_folders f ON f.id = s.folder_id
  LEFT JOIN environments e ON e.id = f.environment_id
  LEFT JOIN app_connections c ON c.id = s.connection_id
 WHERE s.id = $1 AND s.project_id = ANY($2)
