-- Whether a sync of project $1 other than $3 (NULL: none) is named $2.
SELECT 1 FROM secret_syncs WHERE project_id = $1 AND name = $2
   AND ($3::uuid IS NULL OR id <> $3)
