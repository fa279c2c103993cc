-- "Which syncs push DATABASE_URL?": the sync list's search (a key name,
-- any case) and the API's `key` filter (exact) find the syncs whose
-- pushed-keys record holds a key, without reading every sync's keys. One
-- index on the lowered name serves both: the API's exact match is
-- `lower(key) = lower($k) AND key = $k`.
CREATE INDEX IF NOT EXISTS secret_sync_pushed_keys_key_idx
    ON secret_sync_pushed_keys (lower(key), sync_id);
