//! Deciding a job's fate (pure): from how the attempt ended, the attempt
//! number, the clock and the retry policy, to the rows' outcome and what
//! the broker must do with the delivery.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{
    AttemptFailure, Counts, JobOutcome, JobStatus, KeyChanges, Report, RetryPolicy,
};

/// What the worker must do with the delivery.
#[derive(Clone, Debug, PartialEq)]
pub enum Disposition {
    /// Finished (any final status), or a duplicate: acknowledge.
    Done(JobStatus),
    /// Publish again as `attempt` after `delay`, then acknowledge.
    Retry { attempt: u32, delay: Duration },
    /// The sync is busy (or the store is down): publish again after
    /// `delay` without spending an attempt, then acknowledge.
    Later { delay: Duration },
    /// The job failed and its rows could not say so (the database refused
    /// it): send it to the dead-letter queue with `reason`, where it stays
    /// visible and the rescuer records it once the database answers.
    DeadLetter { reason: String },
}

/// Why a job could not run now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deferral {
    /// Another job of the same sync is running.
    SyncBusy,
    /// The database (or broker) failed before the job had an outcome;
    /// `transient` when it may pass.
    Unavailable { error: String, transient: bool },
}

/// What becomes of a job that could not run now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deferred {
    /// Put it back, after `delay`.
    Later(Duration),
    /// Give up: the job fails with this message.
    Fail(String),
}

/// Puts a job back while that may help, and a bounded number of times: a
/// sync that stays busy or a database that keeps failing ends the job with
/// a message that says why, instead of cycling for ever.
pub fn decide_deferral(cause: &Deferral, deferrals: u32, policy: &RetryPolicy) -> Deferred {
    let waited = policy.busy_delay * deferrals;
    match cause {
        Deferral::Unavailable {
            error,
            transient: false,
        } => Deferred::Fail(format!("Failed: {error}")),
        // A busy sync frees up soon: look again at the same pace. A database
        // that failed may stay down: back off (doubling, at most 32x).
        Deferral::SyncBusy if deferrals < policy.max_deferrals => {
            Deferred::Later(policy.busy_delay)
        }
        Deferral::Unavailable { .. } if deferrals < policy.max_deferrals => {
            Deferred::Later(policy.busy_delay * 2u32.pow(deferrals.min(5)))
        }
        Deferral::SyncBusy => Deferred::Fail(format!(
            "Failed: the sync stayed busy with other jobs for {deferrals} tries (about {}s); \
             enqueue it again once the running job finished, or raise JOB_MAX_DEFERRALS",
            waited.as_secs()
        )),
        Deferral::Unavailable { error, .. } => Deferred::Fail(format!(
            "Failed: could not run the job for {deferrals} tries (about {}s): {error}",
            waited.as_secs()
        )),
    }
}

/// Turns an attempt's result into the rows' outcome and the broker's action.
pub fn decide<E: AttemptFailure>(
    result: Result<Report, E>,
    attempt: u32,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
) -> (JobOutcome, Disposition) {
    match result {
        Ok(report) => (
            JobOutcome {
                status: JobStatus::Succeeded,
                message: report.message,
                counts: report.counts,
                keys: report.keys,
                next_attempt_at: None,
                humanitec_status: None,
                retry_after: None,
            },
            Disposition::Done(JobStatus::Succeeded),
        ),
        // Not a failure: the job is parked (`paused`, acknowledged) until
        // the resume publishes it again; no attempt is spent.
        Err(e) if e.is_paused() => (
            JobOutcome {
                status: JobStatus::Paused,
                message: e.to_string(),
                counts: Counts::default(),
                keys: KeyChanges::default(),
                next_attempt_at: None,
                humanitec_status: None,
                retry_after: None,
            },
            Disposition::Done(JobStatus::Paused),
        ),
        Err(e) if e.is_transient() && attempt < policy.job_max_attempts => {
            let delay = retry_delay(policy, attempt, e.retry_after());
            let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
            (
                JobOutcome {
                    status: JobStatus::Pending,
                    message: format!(
                        "Attempt {attempt} of {} failed: {} Next attempt at {}.",
                        policy.job_max_attempts,
                        sentence(&e.to_string()),
                        next.to_rfc3339_opts(SecondsFormat::Secs, true)
                    ),
                    counts: Counts::default(),
                    keys: KeyChanges::default(),
                    next_attempt_at: Some(next),
                    humanitec_status: e.humanitec_status(),
                    retry_after: e.retry_after(),
                },
                Disposition::Retry {
                    attempt: attempt + 1,
                    delay,
                },
            )
        }
        Err(e) => {
            let message = if e.is_transient() {
                format!("Failed after {attempt} attempt(s): {e}")
            } else {
                format!("Failed: {e}")
            };
            (
                JobOutcome {
                    status: JobStatus::Failed,
                    message,
                    counts: Counts::default(),
                    keys: KeyChanges::default(),
                    next_attempt_at: None,
                    humanitec_status: e.humanitec_status(),
                    retry_after: e.retry_after(),
                },
                Disposition::Done(JobStatus::Failed),
            )
        }
    }
}

/// Delay before attempt `attempt + 1`: the configured delay for this
/// attempt (the last one repeats), or Humanitec's Retry-After if longer.
pub fn retry_delay(retry: &RetryPolicy, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let index = (attempt.max(1) - 1) as usize;
    let configured = retry
        .job_retry_delays
        .get(index)
        .or(retry.job_retry_delays.last())
        .copied()
        .unwrap_or(Duration::from_secs(10));
    retry_after.map_or(configured, |ra| ra.max(configured))
}

/// `text` ending with a full stop, so the next sentence reads as one.
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn retry_messages_read_as_sentences() {
        assert_eq!(sentence("3 of 5 writes failed"), "3 of 5 writes failed.");
        assert_eq!(sentence("Humanitec is failing."), "Humanitec is failing.");
    }

    pub(crate) fn policy() -> RetryPolicy {
        RetryPolicy {
            job_max_attempts: 4,
            job_retry_delays: vec![Duration::from_secs(1), Duration::from_secs(5)],
            busy_delay: Duration::from_secs(1),
            max_deferrals: 3,
        }
    }

    pub(crate) fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// Never built: `success_is_final_with_the_report` needs an error type.
    #[derive(Debug)]
    struct NoFailure;

    impl std::fmt::Display for NoFailure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no failure")
        }
    }

    impl AttemptFailure for NoFailure {
        fn is_transient(&self) -> bool {
            false
        }
        fn retry_after(&self) -> Option<Duration> {
            None
        }
    }

    #[test]
    fn retry_delays_follow_the_schedule_and_respect_retry_after() {
        let r = policy();
        assert_eq!(retry_delay(&r, 1, None), Duration::from_secs(1));
        assert_eq!(retry_delay(&r, 2, None), Duration::from_secs(5));
        assert_eq!(retry_delay(&r, 7, None), Duration::from_secs(5));
        assert_eq!(
            retry_delay(&r, 1, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(
            retry_delay(&r, 2, Some(Duration::from_secs(2))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn success_is_final_with_the_report() {
        let report = Report {
            counts: Counts {
                created: 2,
                ..Counts::default()
            },
            message: "Synced".into(),
            keys: KeyChanges {
                created: vec!["A".into(), "B".into()],
                ..KeyChanges::default()
            },
        };
        let (outcome, disposition) = decide::<NoFailure>(Ok(report), 1, now(), &policy());
        assert_eq!(outcome.status, JobStatus::Succeeded);
        assert_eq!(outcome.counts.created, 2);
        assert_eq!(outcome.keys.created, vec!["A", "B"]);
        assert_eq!(disposition, Disposition::Done(JobStatus::Succeeded));
    }

    #[test]
    fn deferrals_are_bounded_and_permanent_errors_fail_at_once() {
        let p = policy();
        let busy = Deferral::SyncBusy;
        assert_eq!(
            decide_deferral(&busy, 0, &p),
            Deferred::Later(Duration::from_secs(1))
        );
        assert_eq!(
            decide_deferral(&busy, 2, &p),
            Deferred::Later(Duration::from_secs(1))
        );
        let Deferred::Fail(message) = decide_deferral(&busy, 3, &p) else {
            panic!("a busy sync cannot defer for ever");
        };
        assert!(
            message.contains("stayed busy") && message.contains("3 tries"),
            "{message}"
        );
        let down = Deferral::Unavailable {
            error: "database error while loading the sync: connection refused".into(),
            transient: true,
        };
        assert_eq!(
            decide_deferral(&down, 0, &p),
            Deferred::Later(Duration::from_secs(1))
        );
        assert_eq!(
            decide_deferral(&down, 2, &p),
            Deferred::Later(Duration::from_secs(4)),
            "an unreachable database is given more and more time"
        );
        assert!(
            matches!(decide_deferral(&down, 3, &p), Deferred::Fail(m) if m.contains("connection refused"))
        );
        let broken = Deferral::Unavailable {
            error: "database error while writing the job row: value too long".into(),
            transient: false,
        };
        assert!(
            matches!(decide_deferral(&broken, 0, &p), Deferred::Fail(m) if m.starts_with("Failed: database error"))
        );
    }
}

#[cfg(test)]
mod job_error_tests {
    //! The fate `decide` gives the errors a job returns.
    use std::time::Duration;

    use super::tests::{now, policy};
    use super::{decide, Disposition};
    use crate::humanitec::HumanitecError;
    use crate::jobs::{JobError, JobFailure};
    use crate::model::JobStatus;

    fn http(status: u16, retry_after: Option<Duration>) -> JobError {
        JobError::Failed(JobFailure::Humanitec {
            error: Box::new(HumanitecError::Status {
                status,
                method: "GET",
                path: "/orgs/o/apps/a/values".into(),
                code: None,
                message: None,
                retry_after,
            }),
            scope: None,
        })
    }

    #[test]
    fn transient_failures_retry_until_the_budget_is_spent() {
        let (outcome, disposition) = decide(Err(http(503, None)), 1, now(), &policy());
        assert_eq!(outcome.status, JobStatus::Pending);
        assert_eq!(
            outcome.next_attempt_at,
            Some(now() + chrono::Duration::seconds(1))
        );
        assert!(
            outcome.message.starts_with("Attempt 1 of 4 failed")
                && outcome.message.contains("2026-01-02T03:04:06Z"),
            "{}",
            outcome.message
        );
        assert_eq!(
            disposition,
            Disposition::Retry {
                attempt: 2,
                delay: Duration::from_secs(1)
            }
        );
        assert_eq!(
            (outcome.humanitec_status, outcome.retry_after),
            (Some(503), None)
        );
        let (outcome, disposition) = decide(
            Err(http(429, Some(Duration::from_secs(30)))),
            2,
            now(),
            &policy(),
        );
        assert_eq!(
            (outcome.humanitec_status, outcome.retry_after),
            (Some(429), Some(Duration::from_secs(30))),
            "the attempt keeps Humanitec's answer"
        );
        assert_eq!(
            disposition,
            Disposition::Retry {
                attempt: 3,
                delay: Duration::from_secs(30)
            }
        );
        let (outcome, disposition) = decide(Err(http(503, None)), 4, now(), &policy());
        assert_eq!(outcome.status, JobStatus::Failed);
        assert!(outcome.message.starts_with("Failed after 4 attempt(s)"));
        assert_eq!(disposition, Disposition::Done(JobStatus::Failed));
    }

    #[test]
    fn a_run_a_pause_stopped_is_parked_not_failed_nor_retried() {
        for attempt in [1, 4] {
            let (outcome, disposition) = decide(Err(JobError::Paused), attempt, now(), &policy());
            assert_eq!(outcome.status, JobStatus::Paused, "attempt {attempt}");
            assert!(outcome.message.starts_with("Paused"), "{}", outcome.message);
            assert_eq!(outcome.next_attempt_at, None);
            assert_eq!(disposition, Disposition::Done(JobStatus::Paused));
        }
    }

    #[test]
    fn permanent_failures_fail_at_once() {
        for status in [400, 401, 403, 404, 422] {
            let (outcome, disposition) = decide(Err(http(status, None)), 1, now(), &policy());
            assert_eq!(outcome.status, JobStatus::Failed, "{status}");
            assert_eq!(outcome.humanitec_status, Some(status));
            assert!(outcome.message.starts_with("Failed: "), "{status}");
            assert_eq!(disposition, Disposition::Done(JobStatus::Failed));
        }
        let (outcome, _) = decide(
            Err(JobError::Failed(JobFailure::FolderMissing)),
            1,
            now(),
            &policy(),
        );
        assert_eq!(outcome.status, JobStatus::Failed);
    }
}
