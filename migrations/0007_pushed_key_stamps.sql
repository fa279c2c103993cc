-- Humanitec's created_at/updated_at of each value after our write: a value
-- deleted and re-created by hand can come back with the version we recorded,
-- but never with the same timestamps.
ALTER TABLE secret_sync_pushed_keys
    ADD COLUMN IF NOT EXISTS dest_created_at text NULL,
    ADD COLUMN IF NOT EXISTS dest_updated_at text NULL;
