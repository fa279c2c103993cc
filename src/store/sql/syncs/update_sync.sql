-- Changes sync $1 and bumps its version; a NULL keeps the value: $2 name,
-- $4 description (set only when $3), $5 folder, $6 connection,
-- $7 auto-sync, $8 sync options, $9 destination config.
UPDATE secret_syncs SET
    name = coalesce($2, name),
    description = CASE WHEN $3 THEN $4 ELSE description END,
    folder_id = coalesce($5, folder_id),
    connection_id = coalesce($6, connection_id),
    is_auto_sync_enabled = coalesce($7, is_auto_sync_enabled),
    sync_options = coalesce($8, sync_options),
    destination_config = coalesce($9, destination_config),
    version = version + 1,
    updated_at = now()
 WHERE id = $1
