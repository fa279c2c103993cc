//! How job attempts are retried and deferred: the part of the retry
//! settings a job's fate depends on (`jobs::decide`).

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts of a job (1 = no job-level retry).
    pub job_max_attempts: u32,
    /// Delay before attempt 2, 3, ...; the last one repeats.
    pub job_retry_delays: Vec<Duration>,
    /// Delay before a job whose sync is busy (run by another worker) tries again.
    pub busy_delay: Duration,
    /// Times a job may be put back without running (sync busy, database
    /// unreachable) before it fails saying why: nothing cycles for ever.
    pub max_deferrals: u32,
}
