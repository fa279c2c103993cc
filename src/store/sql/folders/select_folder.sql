-- Environment $2 of project $1 (no row: none), and its folder at path $3
-- (NULL: none).
SELECT f.id FROM environments e
  LEFT JOIN secret_folders f ON f.environment_id = e.id AND f.path = $3
 WHERE e.project_id = $1 AND e.slug = $2
