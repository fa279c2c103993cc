-- The failed syncs the sync list's filters match (`dashboard_failed_syncs`,
-- with $2 `failed`), those with a source folder first (the ones a sync
-- job can retry), at most $7, and how many match in all. The filters ($1
-- to $6) are `dashboard_syncs.sql`'s.
SELECT s.id, s.folder_id IS NOT NULL, count(*) OVER ()
  FROM secret_syncs s
  LEFT JOIN secret_folders f ON f.id = s.folder_id
  LEFT JOIN environments e ON e.id = f.environment_id
  LEFT JOIN app_connections c ON c.id = s.connection_id
 WHERE s.project_id = ANY($1)
   AND ($2::text IS NULL OR coalesce(s.sync_status, 'never') = $2)
   AND ($3::text IS NULL OR s.project_id = $3)
   AND ($4::text IS NULL OR s.destination_config->>'app' = $4)
   AND ($5::text IS NULL OR s.destination_config->>'env' = $5)
   AND ($6::text IS NULL OR strpos(lower(concat_ws(chr(1), s.name,
            concat_ws('/', s.destination_config->>'org', s.destination_config->>'app',
                      s.destination_config->>'env'),
            e.slug, f.path, c.name)), lower($6)) > 0
       OR s.id IN (SELECT p.sync_id FROM secret_sync_pushed_keys p
                   WHERE lower(p.key) = lower($6)))
 ORDER BY s.folder_id IS NULL, s.name, s.id LIMIT $7
