-- Every sync's status columns by name, or sync $1's alone.
SELECT id, name, destination_config, sync_status, last_sync_message, last_synced_at,
       import_status, remove_status
  FROM secret_syncs WHERE $1::uuid IS NULL OR id = $1 ORDER BY name
