-- Deletes sync $1 (its job history stays).
DELETE FROM secret_syncs WHERE id = $1
