//! The check a run makes before it changes anything: its sync's lease is
//! still its own, and durably so. The lease is taken with an asynchronous
//! commit (a no-op run, which only reads, never waits for a WAL flush);
//! a crash or failover can lose such a commit, and with it the lease, so
//! that a second run could take the sync while this one writes. Renewing
//! the lease with a durable commit first flushes (and replicates) the take
//! with it, since the WAL is flushed in order, or finds it gone. The same
//! statement says whether a pause holds the sync (issue 41): a run
//! stops before its first write then, whether or not its process heard.

use std::time::Duration;

use uuid::Uuid;

use super::pause::RunHold;
use crate::jobs::job::Fence;
use crate::jobs::JobError;
use crate::store::{Store, SyncLease};

pub struct LeaseFence<'a> {
    pub store: &'a Store,
    pub job_id: Uuid,
    pub lease: &'a SyncLease,
    pub ttl: Duration,
    pub hold: &'a RunHold,
}

impl Fence for LeaseFence<'_> {
    /// Called before a run's first write (to Humanitec or to the source):
    /// `JobError::LeaseLost` when the lease is no longer this run's,
    /// `JobError::Paused` when a pause holds the sync's writes.
    async fn hold(&self) -> Result<(), JobError> {
        match self
            .store
            .ledger
            .heartbeat(self.job_id, self.lease, self.ttl)
            .await?
        {
            Some(false) => Ok(()),
            Some(true) => {
                self.hold.saw_pause();
                Err(JobError::Paused)
            }
            None => Err(JobError::LeaseLost),
        }
    }
}
