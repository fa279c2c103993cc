//! A job row's state as the runner reads it.

use chrono::{DateTime, Utc};

use crate::model::JobStatus;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobState {
    pub status: JobStatus,
    pub attempt: i32,
    /// Set once the job took its sync's queued marker (see `queued.rs`).
    pub covers_until: Option<DateTime<Utc>>,
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
