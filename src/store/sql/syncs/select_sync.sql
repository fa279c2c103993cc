-- Sync $1 as the jobs read it (`sync_from_row`).
SELECT s.id, s.name, s.project_id, s.connection_id, s.is_auto_sync_enabled,
       s.sync_options, s.destination_config,
       f.id AS folder_id, f.path, e.id AS environment_id, e.slug
  FROM secret_syncs s
  LEFT JOIN secret_folders f ON f.id = s.folder_id
  LEFT JOIN environments e ON e.id = f.environment_id
 WHERE s.id = $1
