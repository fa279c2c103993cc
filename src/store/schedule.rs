//! The reconcile schedule (`sync_reconcile`): each auto-synced sync's next
//! re-run, at a fixed phase of the interval taken from a hash of its id, so
//! that ten thousand syncs spread evenly over the interval instead of
//! starting in one burst.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{Store, StoreError};

/// The next slot of a sync's phase after now, in SQL: `$1` is the period in
/// seconds; the phase is the sync id's hash modulo the period (in ms).
macro_rules! next_slot {
    ($id:expr, $period:expr) => {
        concat!(
            "date_bin(make_interval(secs => ",
            $period,
            "), now(), timestamptz 'epoch' + make_interval(secs => ((abs(hashtext(",
            $id,
            "::text))::bigint % (",
            $period,
            " * 1000)::bigint) / 1000.0))) + make_interval(secs => ",
            $period,
            ")"
        )
    };
}

/// What a pass of the schedule came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DueSyncs {
    /// Syncs to re-run now (auto-synced, with a source folder).
    pub due: Vec<Uuid>,
}

impl Store {
    /// Gives every auto-synced sync without a slot its first one (after
    /// now: a new schedule starts nothing at once). Returns how many.
    pub async fn schedule_new_syncs(&self, every: Duration) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                concat!(
                    "INSERT INTO sync_reconcile (sync_id, next_at)
                     SELECT s.id, ",
                    next_slot!("s.id", "$1"),
                    " FROM secret_syncs s
                      WHERE s.is_auto_sync_enabled
                        AND NOT EXISTS (SELECT 1 FROM sync_reconcile r WHERE r.sync_id = s.id)
                     ON CONFLICT (sync_id) DO NOTHING"
                ),
                &[(&every.as_secs_f64(), Type::FLOAT8)],
            )
            .await
            .map_err(StoreError::db("scheduling new syncs"))
    }

    /// Takes up to `limit` syncs whose slot has come, moves each to its next
    /// slot (`failed_every` for a sync whose last sync job failed), and
    /// returns those to re-run now. Workers share the work: a slot taken by
    /// one is skipped by the others.
    pub async fn take_due_syncs(
        &self,
        every: Duration,
        failed_every: Duration,
        limit: i64,
    ) -> Result<DueSyncs, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                concat!(
                    "WITH due AS (
                        SELECT sync_id FROM sync_reconcile WHERE next_at <= now()
                         ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                     UPDATE sync_reconcile r SET next_at = CASE WHEN s.sync_status = 'failed' THEN ",
                    next_slot!("r.sync_id", "$2"),
                    " ELSE ",
                    next_slot!("r.sync_id", "$1"),
                    " END
                       FROM due, secret_syncs s
                      WHERE r.sync_id = due.sync_id AND s.id = r.sync_id
                  RETURNING r.sync_id, s.is_auto_sync_enabled AND s.folder_id IS NOT NULL AS runs"
                ),
                &[
                    (&every.as_secs_f64(), Type::FLOAT8),
                    (&failed_every.as_secs_f64(), Type::FLOAT8),
                    (&limit, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("taking the syncs due for a reconcile"))?;
        Ok(DueSyncs {
            due: rows
                .iter()
                .filter(|r| r.get::<_, bool>("runs"))
                .map(|r| r.get("sync_id"))
                .collect(),
        })
    }

    /// When a sync is next re-run by the schedule, if it has a slot.
    pub async fn next_reconcile(&self, sync_id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT next_at FROM sync_reconcile WHERE sync_id = $1",
                &[(&sync_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("reading the reconcile schedule"))?;
        Ok(row.map(|r| r.get(0)))
    }
}
