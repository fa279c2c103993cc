//! Coalescing: the marker "a job of this kind is queued for this sync and
//! not started" (`secret_sync_queued`, one per sync and
//! `JobKind::coalescing_key`). Enqueuing a job while one of its kind is
//! queued folds into it; the runner takes the marker away when the job
//! starts (`start.rs`).

use std::time::Duration;

use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::store::sql::jobs as sql;
use crate::store::{JobLedger, StoreError};

/// What enqueuing a job came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// No job of its kind was queued: `job_id` is the marker now; publish it.
    New,
    /// Folded into the queued job `job_id`, which now covers `coalesced`
    /// requests; nothing to publish.
    Folded { job_id: Uuid, coalesced: i32 },
}

impl JobLedger {
    /// Atomically either makes `job_id` the sync's queued job of `kind`
    /// (a `JobKind::coalescing_key`), or folds the request into the job of
    /// that kind already queued. A marker whose job the
    /// broker never confirmed within `unconfirmed_after` (its enqueuer
    /// died between the two steps) is taken over rather than folded into.
    pub async fn claim_queued(
        &self,
        sync_id: Uuid,
        kind: &str,
        job_id: Uuid,
        unconfirmed_after: Duration,
    ) -> Result<Claim, StoreError> {
        let client = self.db.client().await?;
        // One statement: the marker upsert, and the count shown on the
        // waiting job's row (the runner copies the final count at start).
        let row = client
            .query_one(
                sql::CLAIM_QUEUED_MARKER,
                &[
                    (&sync_id, Type::UUID),
                    (&job_id, Type::UUID),
                    (&unconfirmed_after.as_secs_f64(), Type::FLOAT8),
                    (&kind, Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("queuing the job"))?;
        let (queued, coalesced): (Uuid, i32) = (row.get(0), row.get(1));
        if queued == job_id {
            return Ok(Claim::New);
        }
        Ok(Claim::Folded {
            job_id: queued,
            coalesced,
        })
    }

    /// The job could not be published: forget the marker, so the next
    /// request queues a job of its own.
    pub async fn drop_queued_marker(&self, sync_id: Uuid, job_id: Uuid) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        client
            .execute(
                sql::DELETE_QUEUED_MARKER,
                &[(&sync_id, Type::UUID), (&job_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("dropping the queued marker"))?;
        Ok(())
    }
}
