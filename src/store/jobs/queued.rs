//! Coalescing: the marker "a job of this kind is queued for this sync and
//! not started" (`secret_sync_queued`, one per sync and
//! `JobKind::coalescing_key`). Enqueuing a job while one of its kind is
//! queued folds into it; the runner takes the marker away when the job
//! starts (`start.rs`).

use std::time::Duration;

use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::store::{Store, StoreError};

/// What enqueuing a job came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// No job of its kind was queued: `job_id` is the marker now; publish it.
    New,
    /// Folded into the queued job `job_id`, which now covers `coalesced`
    /// requests; nothing to publish.
    Folded { job_id: Uuid, coalesced: i32 },
}

impl Store {
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
        let client = self.client().await?;
        // One statement: the marker upsert, and the count shown on the
        // waiting job's row (the runner copies the final count at start).
        // The job row is found by its id alone (a scalar, `= (SELECT ...)`),
        // and whether it is still pending is checked on the row, not in
        // the `WHERE`: a plan cached while no job was pending otherwise
        // reads every pending job through `status_idx` (by joining the
        // marker, or filtering them by id), once per enqueue, and
        // enqueue/s fell with the queue's length.
        let row = client
            .query_one(
                "WITH q AS (
                    INSERT INTO secret_sync_queued AS q (sync_id, job_id, kind) VALUES ($1, $2, $4)
                    ON CONFLICT (sync_id, kind) DO UPDATE SET
                        job_id     = CASE WHEN q.published_at IS NULL AND q.created_at < now() - make_interval(secs => $3)
                                          THEN EXCLUDED.job_id ELSE q.job_id END,
                        coalesced  = CASE WHEN q.published_at IS NULL AND q.created_at < now() - make_interval(secs => $3)
                                          THEN 1 ELSE q.coalesced + 1 END,
                        created_at = CASE WHEN q.published_at IS NULL AND q.created_at < now() - make_interval(secs => $3)
                                          THEN now() ELSE q.created_at END,
                        last_request_at = now()
                    RETURNING job_id, coalesced),
                 shown AS (
                    UPDATE secret_sync_jobs j
                       SET coalesced = CASE WHEN j.status = 'pending'
                                            THEN GREATEST(j.coalesced, (SELECT coalesced FROM q))
                                            ELSE j.coalesced END
                     WHERE j.id = (SELECT job_id FROM q WHERE job_id <> $2))
                 SELECT job_id, coalesced FROM q",
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
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM secret_sync_queued WHERE sync_id = $1 AND job_id = $2",
                &[(&sync_id, Type::UUID), (&job_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("dropping the queued marker"))?;
        Ok(())
    }
}
