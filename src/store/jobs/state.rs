//! A job row's state, read by the lease and the start alike.

use crate::model::{JobState, JobStatus};

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
