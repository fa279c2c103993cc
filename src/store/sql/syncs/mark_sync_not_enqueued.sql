-- Sync $1's first job was never enqueued: its row says why ($2).
UPDATE secret_syncs SET sync_status = 'failed', last_sync_message = $2,
       updated_at = now() WHERE id = $1
