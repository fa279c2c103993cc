-- Gives sync $1's lease up, only if still held under token $2.
UPDATE secret_syncs SET lease_token = NULL, lease_holder = NULL, lease_expires_at = NULL
 WHERE id = $1 AND lease_token = $2
