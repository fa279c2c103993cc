//! One attempt of a job as it stays on record (`secret_sync_job_attempts`):
//! the job row keeps only its last attempt's words; these keep them all.

use chrono::{DateTime, Utc};

/// How one attempt of a job went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobAttempt {
    /// 1 for the first.
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `succeeded`, `retrying` (it failed and another attempt followed),
    /// `failed` (the job's last) or `skipped`.
    pub outcome: String,
    /// The job row's message of the time (never a value or a token).
    pub message: Option<String>,
    /// Humanitec's HTTP status, when a Humanitec answer ended the attempt.
    pub humanitec_status: Option<i32>,
    /// Humanitec's `Retry-After` on that answer, in milliseconds.
    pub retry_after_ms: Option<i32>,
}
