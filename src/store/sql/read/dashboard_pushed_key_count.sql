-- How many keys sync $1 recorded pushing to destination $2.
SELECT count(*) FROM secret_sync_pushed_keys WHERE sync_id = $1 AND destination = $2
