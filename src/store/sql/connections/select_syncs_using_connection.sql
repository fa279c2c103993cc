-- The names of the syncs that use connection $1.
SELECT name FROM secret_syncs WHERE connection_id = $1 ORDER BY name
