-- What sync $1 last pushed per key to destination $2.
SELECT key, fingerprint, secret_version, dest_created_at, dest_updated_at
  FROM secret_sync_pushed_keys
 WHERE sync_id = $1 AND destination = $2
