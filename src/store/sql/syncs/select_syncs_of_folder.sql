-- Auto-sync-enabled syncs reading folder $3 of environment $2 in project
-- $1 (a secret-change event's target), as `select_sync.sql` reads them.
SELECT s.id, s.name, s.project_id, s.connection_id, s.is_auto_sync_enabled,
       s.sync_options, s.destination_config,
       f.id AS folder_id, f.path, e.id AS environment_id, e.slug
  FROM secret_syncs s
  LEFT JOIN secret_folders f ON f.id = s.folder_id
  LEFT JOIN environments e ON e.id = f.environment_id
 WHERE s.project_id = $1 AND e.slug = $2 AND f.path = $3
   AND s.is_auto_sync_enabled ORDER BY s.name
