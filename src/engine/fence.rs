//! The check a run makes before it changes anything: its sync's lease is
//! still its own, and durably so. The lease is taken with an asynchronous
//! commit (a no-op run, which only reads, never waits for a WAL flush);
//! a crash or failover can lose such a commit, and with it the lease, so
//! that a second run could take the sync while this one writes. Renewing
//! the lease with a durable commit first flushes (and replicates) the take
//! with it, since the WAL is flushed in order, or finds it gone.

use std::time::Duration;

use uuid::Uuid;

use crate::jobs::job::Fence;
use crate::jobs::JobError;
use crate::store::{Store, SyncLease};

pub struct LeaseFence<'a> {
    pub store: &'a Store,
    pub job_id: Uuid,
    pub lease: &'a SyncLease,
    pub ttl: Duration,
}

impl Fence for LeaseFence<'_> {
    /// Called before a run's first write (to Humanitec or to the source):
    /// `JobError::LeaseLost` when the lease is no longer this run's.
    async fn hold(&self) -> Result<(), JobError> {
        match self
            .store
            .ledger
            .heartbeat(self.job_id, self.lease, self.ttl)
            .await?
        {
            true => Ok(()),
            false => Err(JobError::LeaseLost),
        }
    }
}
