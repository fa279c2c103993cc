-- The paths of every folder below path $3 (not $3 itself) in environment
-- $2 of project $1: a recursive sync's subfolders.
SELECT f.path FROM environments e
  JOIN secret_folders f ON f.environment_id = e.id
 WHERE e.project_id = $1 AND e.slug = $2 AND f.path <> $3
   AND starts_with(f.path, CASE WHEN $3 = '/' THEN '/' ELSE $3 || '/' END)
 ORDER BY f.path
