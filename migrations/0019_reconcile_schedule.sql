-- Reconcile on a schedule: when each auto-synced sync is next re-run
-- (SYNC_RECONCILE_INTERVAL, each sync at its own phase of the interval so
-- that many syncs never start in one burst; failed ones on a slower
-- schedule). Kept beside the hot `secret_syncs` rows, not on them.
CREATE TABLE sync_reconcile (
    sync_id  uuid PRIMARY KEY REFERENCES secret_syncs(id) ON DELETE CASCADE,
    next_at  timestamptz NOT NULL
);
CREATE INDEX sync_reconcile_due ON sync_reconcile (next_at);
