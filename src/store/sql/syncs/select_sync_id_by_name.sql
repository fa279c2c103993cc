-- The id of project $1's sync named $2.
SELECT id FROM secret_syncs WHERE project_id = $1 AND name = $2
