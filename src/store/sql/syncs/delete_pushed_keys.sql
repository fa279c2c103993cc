-- Forgets sync $1's pushes of keys $3 to destination $2.
DELETE FROM secret_sync_pushed_keys
 WHERE sync_id = $1 AND destination = $2 AND key = ANY($3)
