//! The lifecycle of one job delivery: idempotency, the per-sync lock,
//! supersession, status rows, and the retry decision. The worker turns the
//! returned `Disposition` into broker actions; status is always written
//! before the delivery is acknowledged.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::Instrument;
use uuid::Uuid;

use super::context::JobContext;
use super::error::JobError;
use super::report::Report;
use super::{import::run_import, remove::run_remove, sync::run_sync};
use crate::config::RetrySettings;
use crate::model::{ImportBehavior, JobStatus, JobType};
use crate::queue::JobMessage;
use crate::store::{JobOutcome, JobStart, SyncRecord};

/// A job as delivered, with what its headers say.
#[derive(Clone, Debug)]
pub struct JobDelivery {
    pub job_id: Uuid,
    pub message: JobMessage,
    pub attempt: u32,
    pub busy_count: u32,
    pub enqueued_at: DateTime<Utc>,
}

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
}

pub struct Runner {
    pub ctx: JobContext,
    pub retry: RetrySettings,
    pub worker_id: String,
    /// How often a running job refreshes its heartbeat.
    pub heartbeat_every: Duration,
}

impl Runner {
    pub async fn handle(&self, d: &JobDelivery) -> Disposition {
        match self.try_handle(d).await {
            Ok(disposition) => disposition,
            Err(e) => {
                // Infrastructure trouble before the outcome was recorded
                // (database down, ...): nothing is lost, try again later.
                tracing::warn!(job_id = %d.job_id, sync_id = %d.message.sync_id, error = %e,
                    "could not run the job now; it will be redelivered");
                Disposition::Later {
                    delay: self.retry.busy_delay,
                }
            }
        }
    }

    async fn try_handle(&self, d: &JobDelivery) -> Result<Disposition, JobError> {
        let store = &self.ctx.store;
        let sync_id = d.message.sync_id;
        let job_type = d.message.job_type;
        if let Some(done) = self.already_handled(d).await? {
            return Ok(done);
        }
        let Some(lock) = store.try_lock_sync(sync_id).await? else {
            tracing::info!(job_id = %d.job_id, %sync_id, "sync busy with another job; delaying");
            return Ok(Disposition::Later {
                delay: self.retry.busy_delay,
            });
        };
        // Re-check under the lock: a duplicate may have finished meanwhile.
        let result = match self.already_handled(d).await {
            Ok(Some(done)) => Ok(done),
            Ok(None) => self.run_locked(d, job_type).await,
            Err(e) => Err(e),
        };
        lock.release().await;
        result
    }

    /// A redelivered job that already finished, or an older copy of a job
    /// that has moved on to a later attempt, is acknowledged without running.
    async fn already_handled(&self, d: &JobDelivery) -> Result<Option<Disposition>, JobError> {
        Ok(match self.ctx.store.job_state(d.job_id).await? {
            Some(state) if state.status.is_final() => {
                tracing::info!(job_id = %d.job_id, status = state.status.as_str(), "job already finished; acknowledging");
                Some(Disposition::Done(state.status))
            }
            Some(state) if i64::from(state.attempt) > i64::from(d.attempt) => {
                tracing::info!(job_id = %d.job_id, "stale copy of a retried job; acknowledging");
                Some(Disposition::Done(state.status))
            }
            _ => None,
        })
    }

    fn start_record(&self, d: &JobDelivery) -> JobStart {
        JobStart {
            job_id: d.job_id,
            sync_id: d.message.sync_id,
            job_type: d.message.job_type,
            trigger: d.message.trigger.clone(),
            attempt: i32::try_from(d.attempt).unwrap_or(i32::MAX),
            max_attempts: i32::try_from(self.retry.job_max_attempts).unwrap_or(i32::MAX),
            enqueued_at: d.enqueued_at,
            worker_id: self.worker_id.clone(),
        }
    }

    async fn run_locked(
        &self,
        d: &JobDelivery,
        job_type: JobType,
    ) -> Result<Disposition, JobError> {
        let store = &self.ctx.store;
        let start = self.start_record(d);
        let Some(sync) = store.load_sync(d.message.sync_id).await? else {
            let msg = JobError::SyncNotFound(d.message.sync_id).to_string();
            store
                .record_unrun_job(&start, JobStatus::Failed, &msg)
                .await?;
            tracing::warn!(job_id = %d.job_id, sync_id = %d.message.sync_id, "{msg}");
            return Ok(Disposition::Done(JobStatus::Failed));
        };
        if job_type == JobType::Sync {
            if let Some(latest) = store.latest_success_start(sync.id, JobType::Sync).await? {
                if d.enqueued_at < latest {
                    let msg = format!(
                        "Skipped: superseded by the run that started at {}, after this job was enqueued ({}); that run read a newer source",
                        latest.to_rfc3339(),
                        d.enqueued_at.to_rfc3339()
                    );
                    store
                        .record_unrun_job(&start, JobStatus::Skipped, &msg)
                        .await?;
                    tracing::info!(job_id = %d.job_id, sync_id = %sync.id, "superseded; skipped");
                    return Ok(Disposition::Done(JobStatus::Skipped));
                }
            }
        }

        store.start_job(&start).await?;
        let span = tracing::info_span!("job", job_id = %d.job_id, sync_id = %sync.id, sync = %sync.name,
            r#type = job_type.as_str(), attempt = d.attempt);
        let started = Instant::now();
        let result = {
            let heartbeat = self.heartbeat(d.job_id);
            tokio::pin!(heartbeat);
            let work = self.run_job(&sync, d).instrument(span.clone());
            tokio::pin!(work);
            tokio::select! {
                result = &mut work => result,
                () = &mut heartbeat => unreachable!("the heartbeat loop never ends"),
            }
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (outcome, disposition) = self.decide(d, result);
        store
            .finish_job(d.job_id, sync.id, job_type, &outcome)
            .await?;
        if outcome.status == JobStatus::Succeeded
            && job_type == JobType::Remove
            && d.message.delete_sync_on_complete == Some(true)
        {
            store.delete_sync(sync.id).await?;
        }
        tracing::info!(parent: &span, status = outcome.status.as_str(), elapsed_ms, message = %outcome.message, "job finished");
        Ok(disposition)
    }

    async fn run_job(&self, sync: &SyncRecord, d: &JobDelivery) -> Result<Report, JobError> {
        match d.message.job_type {
            JobType::Sync => run_sync(&self.ctx, sync).await,
            JobType::Import => {
                let behavior = d
                    .message
                    .import_behavior
                    .unwrap_or(ImportBehavior::PrioritizeSource);
                run_import(&self.ctx, sync, behavior).await
            }
            JobType::Remove => run_remove(&self.ctx, sync).await,
        }
    }

    /// Refreshes the job's heartbeat until dropped.
    async fn heartbeat(&self, job_id: Uuid) {
        loop {
            tokio::time::sleep(self.heartbeat_every).await;
            if let Err(e) = self.ctx.store.heartbeat(job_id).await {
                tracing::warn!(%job_id, error = %e, "could not write the job heartbeat");
            }
        }
    }

    /// Turns a result into the rows' outcome and the broker's action.
    fn decide(
        &self,
        d: &JobDelivery,
        result: Result<Report, JobError>,
    ) -> (JobOutcome, Disposition) {
        match result {
            Ok(report) => (
                JobOutcome {
                    status: JobStatus::Succeeded,
                    message: report.message,
                    counts: report.counts,
                    next_attempt_at: None,
                },
                Disposition::Done(JobStatus::Succeeded),
            ),
            Err(e) if e.is_transient() && d.attempt < self.retry.job_max_attempts => {
                let delay = retry_delay(&self.retry, d.attempt, e.retry_after());
                let next = Utc::now()
                    + chrono::Duration::from_std(delay)
                        .unwrap_or_else(|_| chrono::Duration::zero());
                (
                    JobOutcome {
                        status: JobStatus::Pending,
                        message: format!(
                            "Attempt {} of {} failed: {e} Next attempt at {}.",
                            d.attempt,
                            self.retry.job_max_attempts,
                            next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                        counts: Default::default(),
                        next_attempt_at: Some(next),
                    },
                    Disposition::Retry {
                        attempt: d.attempt + 1,
                        delay,
                    },
                )
            }
            Err(e) => {
                let message = if e.is_transient() {
                    format!("Failed after {} attempt(s): {e}", d.attempt)
                } else {
                    format!("Failed: {e}")
                };
                (
                    JobOutcome {
                        status: JobStatus::Failed,
                        message,
                        counts: Default::default(),
                        next_attempt_at: None,
                    },
                    Disposition::Done(JobStatus::Failed),
                )
            }
        }
    }
}

/// Delay before attempt `attempt + 1`: the configured delay for this
/// attempt (the last one repeats), or Humanitec's Retry-After if longer.
pub fn retry_delay(retry: &RetrySettings, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let index = (attempt.max(1) - 1) as usize;
    let configured = retry
        .job_retry_delays
        .get(index)
        .or(retry.job_retry_delays.last())
        .copied()
        .unwrap_or(Duration::from_secs(10));
    retry_after.map_or(configured, |ra| ra.max(configured))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry() -> RetrySettings {
        RetrySettings {
            http_retries: 0,
            http_min_delay: Duration::ZERO,
            http_max_delay: Duration::ZERO,
            retry_after_cap: Duration::ZERO,
            job_max_attempts: 4,
            job_retry_delays: vec![Duration::from_secs(1), Duration::from_secs(5)],
            busy_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn retry_delays_follow_the_schedule_and_respect_retry_after() {
        let r = retry();
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
}
