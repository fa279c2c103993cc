-- Deletes connection $1 unless a sync uses it.
DELETE FROM app_connections WHERE id = $1
   AND NOT EXISTS (SELECT 1 FROM secret_syncs WHERE connection_id = $1)
