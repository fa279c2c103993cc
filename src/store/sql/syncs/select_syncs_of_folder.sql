-- Auto-sync-enabled syncs reading folder $3 of environment $2 in project
-- $1 (a secret-change event's target), as `select_sync.sql` reads them:
-- the sync's own folder, a folder its last run read through an import or
-- a reference (`secret_sync_sources`), or a folder below a recursive
-- sync's.
SELECT s.id, s.name, s.project_id, s.connection_id, s.is_auto_sync_enabled,
       s.sync_options, s.destination_config,
       f.id AS folder_id, f.path, e.id AS environment_id, e.slug
  FROM secret_syncs s
  LEFT JOIN secret_folders f ON f.id = s.folder_id
  LEFT JOIN environments e ON e.id = f.environment_id
 WHERE s.project_id = $1 AND s.is_auto_sync_enabled
   AND ((e.slug = $2 AND f.path = $3)
        OR EXISTS (SELECT 1 FROM secret_sync_sources r
                    WHERE r.sync_id = s.id AND r.environment_slug = $2 AND r.path = $3)
        OR (e.slug = $2 AND s.sync_options->>'recursive' = 'true'
            AND starts_with($3, CASE WHEN f.path = '/' THEN '/' ELSE f.path || '/' END)))
 ORDER BY s.name
