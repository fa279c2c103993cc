//! One job per sync at a time, across all processes: a lease on the sync's
//! row. Taking it is one conditional `UPDATE`; the running job's heartbeat
//! renews it; its owner releases it. No connection is held while the job
//! talks to Humanitec, no session state is used (so it works through
//! PgBouncer in transaction mode), and a dead worker's lease expires by itself.

use std::time::{Duration, Instant};

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::state::job_state_at;
use crate::model::JobState;
use crate::store::conn::Tx;
use crate::store::sql::jobs as sql;
use crate::store::{JobLedger, StoreError};

/// Proof of holding a sync's lease: the random token written on the row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncLease {
    pub sync_id: Uuid,
    pub token: Uuid,
    /// When the statement that took it was sent: the database sets the
    /// expiry a little later, so the lease lasts at least `ttl` from here.
    pub asked_at: Instant,
}

/// The answer to "may I run a job of this sync now?".
#[derive(Debug)]
pub enum LeaseTake {
    Taken(SyncLease),
    /// Another run holds an unexpired lease.
    Busy,
    /// No such sync row.
    NoSuchSync,
}

/// A lease attempt, and the job's row as it stood when it was made.
#[derive(Debug)]
pub struct LeaseAttempt {
    pub take: LeaseTake,
    /// Read in the same statement: a redelivered job that already finished
    /// is acknowledged even while its sync is busy. Not a decision to run:
    /// a job finishing concurrently is only visible to a read made after
    /// the lease was taken (see `Store::open_leased_job`).
    pub prior: Option<JobState>,
    /// The job id names a job row of another sync (read in the same
    /// statement): the job is refused, whatever the lease.
    pub foreign_job: bool,
}

impl JobLedger {
    /// Takes the sync's lease for `ttl` if it is free or expired, and reads
    /// job `job_id`'s row, in one statement. `holder` is for operators (who
    /// holds it); the token proves ownership.
    pub async fn try_lease_sync(
        &self,
        sync_id: Uuid,
        job_id: Uuid,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseAttempt, StoreError> {
        let client = self.db.client().await?;
        let token = Uuid::new_v4();
        let asked_at = Instant::now();
        let rows = client
            .query_async_commit(
                sql::TAKE_SYNC_LEASE,
                &[
                    (&sync_id, Type::UUID),
                    (&token, Type::UUID),
                    (&holder, Type::TEXT),
                    (&ttl.as_secs_f64(), Type::FLOAT8),
                    (&job_id, Type::UUID),
                ],
            )
            .await
            .map_err(StoreError::db("taking the sync lease"))?;
        let Some(row) = rows.first() else {
            return Ok(LeaseAttempt {
                take: LeaseTake::NoSuchSync,
                prior: None,
                foreign_job: false,
            });
        };
        let take = match (row.get::<_, bool>(0), row.get::<_, bool>(1)) {
            (true, _) => LeaseTake::Taken(SyncLease {
                sync_id,
                token,
                asked_at,
            }),
            (false, true) => LeaseTake::Busy,
            (false, false) => LeaseTake::NoSuchSync,
        };
        Ok(LeaseAttempt {
            take,
            prior: job_state_at(row, 2),
            foreign_job: row.get(5),
        })
    }

    /// Extends the lease by `ttl` from now. False when it is no longer ours
    /// (expired and taken by another run, or the row is gone).
    pub async fn renew_lease(&self, lease: &SyncLease, ttl: Duration) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        let n = client
            .query(
                sql::RENEW_SYNC_LEASE,
                &[
                    (&lease.sync_id, Type::UUID),
                    (&lease.token, Type::UUID),
                    (&ttl.as_secs_f64(), Type::FLOAT8),
                ],
            )
            .await
            .map_err(StoreError::db("renewing the sync lease"))?;
        Ok(!n.is_empty())
    }

    /// Gives the lease up, only if still ours.
    pub async fn release_lease(&self, lease: &SyncLease) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        client
            .execute(
                sql::RELEASE_SYNC_LEASE,
                &[(&lease.sync_id, Type::UUID), (&lease.token, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("releasing the sync lease"))?;
        Ok(())
    }
}

/// Gives the lease up, only if still ours, in a transaction.
pub(super) async fn release_lease_in(tx: &Tx<'_>, lease: &SyncLease) -> Result<(), StoreError> {
    tx.execute(
        sql::RELEASE_SYNC_LEASE,
        &[(&lease.sync_id, Type::UUID), (&lease.token, Type::UUID)],
    )
    .await
    .map_err(StoreError::db("releasing the sync lease"))?;
    Ok(())
}
