-- Gives every auto-synced sync without a reconcile slot its first one: the
-- next slot after now of its phase, the sync id's hash modulo the period
-- ($1 seconds), in ms; so that ten thousand syncs spread evenly over the
-- period instead of starting in one burst.
INSERT INTO sync_reconcile (sync_id, next_at)
SELECT s.id,
       date_bin(make_interval(secs => $1), now(),
                timestamptz 'epoch' + make_interval(secs => (
                    (abs(hashtext(s.id::text))::bigint % ($1 * 1000)::bigint) / 1000.0)))
       + make_interval(secs => $1)
  FROM secret_syncs s
 WHERE s.is_auto_sync_enabled
   AND NOT EXISTS (SELECT 1 FROM sync_reconcile r WHERE r.sync_id = s.id)
ON CONFLICT (sync_id) DO NOTHING
