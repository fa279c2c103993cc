-- Every fingerprint sync $1 recorded, whatever the destination.
SELECT destination, key, fingerprint FROM secret_sync_pushed_keys WHERE sync_id = $1
