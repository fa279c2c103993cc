//! The reconcile schedule (`sync_reconcile`): each auto-synced sync's next
//! re-run, at a fixed phase of the interval taken from a hash of its id, so
//! that ten thousand syncs spread evenly over the interval instead of
//! starting in one burst.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::sql::schedule as sql;
use super::{JobLedger, StoreError};

/// What a pass of the schedule came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DueSyncs {
    /// Syncs to re-run now (auto-synced, with a source folder).
    pub due: Vec<Uuid>,
}

impl JobLedger {
    /// Gives every auto-synced sync without a slot its first one (after
    /// now: a new schedule starts nothing at once). Returns how many.
    pub async fn schedule_new_syncs(&self, every: Duration) -> Result<u64, StoreError> {
        let client = self.db.client().await?;
        client
            .execute(
                sql::SCHEDULE_NEW_SYNCS,
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
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::TAKE_DUE_SYNCS,
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
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::SELECT_NEXT_RECONCILE, &[(&sync_id, Type::UUID)])
            .await
            .map_err(StoreError::db("reading the reconcile schedule"))?;
        Ok(row.map(|r| r.get(0)))
    }
}
