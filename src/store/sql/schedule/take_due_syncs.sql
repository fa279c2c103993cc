-- Takes up to $3 syncs whose slot has come (skipping those another worker
-- holds) and moves each to its phase's next slot (as
-- `schedule_new_syncs.sql`) of period $1 seconds, or $2 for a sync whose
-- last sync job failed; returns whether each runs now (auto-synced, with
-- a source folder).
WITH due AS (
    SELECT sync_id FROM sync_reconcile WHERE next_at <= now()
     ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED)
UPDATE sync_reconcile r SET next_at = CASE WHEN s.sync_status = 'failed'
    THEN date_bin(make_interval(secs => $2), now(),
                  timestamptz 'epoch' + make_interval(secs => (
                      (abs(hashtext(r.sync_id::text))::bigint % ($2 * 1000)::bigint) / 1000.0)))
         + make_interval(secs => $2)
    ELSE date_bin(make_interval(secs => $1), now(),
                  timestamptz 'epoch' + make_interval(secs => (
                      (abs(hashtext(r.sync_id::text))::bigint % ($1 * 1000)::bigint) / 1000.0)))
         + make_interval(secs => $1)
    END
  FROM due, secret_syncs s
 WHERE r.sync_id = due.sync_id AND s.id = r.sync_id
RETURNING r.sync_id, s.is_auto_sync_enabled AND s.folder_id IS NOT NULL AS runs
