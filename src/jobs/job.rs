//! What every kind of job is to the engine that runs it: one type per kind,
//! one file each (`sync.rs`, `import.rs`, `remove.rs`), each with `run`.
//! The engine (`crate::engine::runner`) takes the sync's lease, loads the
//! sync, calls `kinds::run_kind`, and records the outcome; a job only does its
//! work, checking its [`Fence`] before its first write.

use std::future::Future;

use super::context::JobContext;
use super::error::JobError;
use crate::model::{JobType, Report, SyncRecord};

/// The check a run makes before it changes anything: that the sync is
/// still its own to write (the engine's lease; `JobError::LeaseLost` when not).
pub trait Fence: Sync {
    fn hold(&self) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// One kind of job.
pub trait BackgroundJob: Send + Sync {
    /// The type its rows and messages carry.
    const JOB_TYPE: JobType;

    /// Does the job's work on `sync`; what it did, or why it could not.
    fn run<F: Fence>(
        &self,
        ctx: &JobContext,
        fence: &F,
        sync: &SyncRecord,
    ) -> impl Future<Output = Result<Report, JobError>> + Send;
}
