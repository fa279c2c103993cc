-- The folders ($2[i] environment slug, $3[i] path) of project $1, for a
-- sync's source: a row per folder found (kind 'f'), per secret ('s': key,
-- encrypted value and comment) and per secret import ('i': the imported
-- folder's environment slug and path, by position). Imports stay within
-- the project.
WITH wanted AS (
    SELECT f.id, w.slug, w.path
      FROM unnest($2::text[], $3::text[]) AS w(slug, path)
      JOIN environments e ON e.project_id = $1 AND e.slug = w.slug
      JOIN secret_folders f ON f.environment_id = e.id AND f.path = w.path
)
SELECT 'f' AS kind, w.slug, w.path, NULL::text AS key, NULL::bytea AS encrypted_value,
       NULL::bytea AS encrypted_comment, NULL::text AS import_slug, NULL::text AS import_path,
       NULL::int AS position
  FROM wanted w
UNION ALL
SELECT 's', w.slug, w.path, s.key, s.encrypted_value, s.encrypted_comment, NULL, NULL, NULL
  FROM wanted w JOIN secrets s ON s.folder_id = w.id
UNION ALL
SELECT 'i', w.slug, w.path, NULL, NULL, NULL, ie.slug, i.import_path, i.position
  FROM wanted w
  JOIN secret_imports i ON i.folder_id = w.id
  JOIN environments ie ON ie.id = i.import_environment_id AND ie.project_id = $1
 ORDER BY kind, slug, path, position, key
