-- The project of each sync of $1 that still exists.
SELECT id, project_id FROM secret_syncs WHERE id = ANY($1)
