-- When sync $1 is next re-run by the schedule (no row: no slot).
SELECT next_at FROM sync_reconcile WHERE sync_id = $1
