//! A job row's state, read by the lease and the start alike, and a job as
//! its run starts it (what its outcome is written with).

use chrono::{DateTime, Utc};

use crate::model::{Job, JobState, JobStatus};

/// A job about to run (or be recorded as skipped).
#[derive(Clone, Debug)]
pub struct JobStart {
    pub job: Job,
    pub attempt: i32,
    pub max_attempts: i32,
    pub enqueued_at: DateTime<Utc>,
    pub worker_id: String,
    /// Enqueue requests this job absorbed (1 when nothing was folded in).
    pub coalesced: i32,
    /// When the job stopped absorbing requests (its queued marker was taken).
    pub covers_until: Option<DateTime<Utc>>,
    /// When its run opened it under the sync's lease, by the database's
    /// clock (`StartView::opened_at`); None for a job recorded without a
    /// run (the write's own time is used).
    pub started_at: Option<DateTime<Utc>>,
}

/// The job state in columns `at..at+3` (status, attempt, covers_until) of
/// `row`; None when the job has no row (the status is NULL).
pub(super) fn job_state_at(row: &tokio_postgres::Row, at: usize) -> Option<JobState> {
    let status = JobStatus::parse(row.get::<_, Option<&str>>(at)?)?;
    Some(JobState {
        status,
        attempt: row.get(at + 1),
        covers_until: row.get(at + 2),
    })
}
