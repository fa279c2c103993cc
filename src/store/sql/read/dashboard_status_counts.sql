-- Syncs per status (`never`: never ran) in projects $1.
SELECT coalesce(sync_status, 'never'), count(*) FROM secret_syncs
 WHERE project_id = ANY($1) GROUP BY 1
