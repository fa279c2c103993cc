-- Sync $1's fingerprint of key $3 at destination $2 becomes $5 if it is
-- still $4.
UPDATE secret_sync_pushed_keys SET fingerprint = $5
 WHERE sync_id = $1 AND destination = $2 AND key = $3 AND fingerprint = $4
