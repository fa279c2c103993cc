-- A new sync: $1 name, $2 description, $3 project, $4 folder,
-- $5 connection, $6 auto-sync, $7 sync options, $8 destination config.
INSERT INTO secret_syncs (name, description, project_id, folder_id, connection_id,
        is_auto_sync_enabled, sync_options, destination_config)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
