//! The lifecycle of one job delivery (the shell around `decide`):
//! idempotency, the per-sync lock, supersession, status rows. The worker
//! turns the returned `Disposition` into broker actions; status is always
//! written before the delivery is acknowledged.

use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::Instrument;
use uuid::Uuid;

use super::context::JobContext;
use super::decide::{decide, decide_deferral, Deferral, Deferred, Disposition};
use super::error::JobError;
use super::report::Report;
use super::{import::run_import, remove::run_remove, sync::run_sync};
use crate::config::RetrySettings;
use crate::model::{Job, JobEnvelope, JobKind, JobStatus, JobType};
use crate::store::{JobStart, SyncRecord};

pub struct Runner {
    pub ctx: JobContext,
    pub retry: RetrySettings,
    pub worker_id: String,
    /// How often a running job refreshes its heartbeat.
    pub heartbeat_every: Duration,
}

impl Runner {
    pub async fn handle(&self, job: &Job, envelope: &JobEnvelope) -> Disposition {
        match self.try_handle(job, envelope).await {
            Ok(disposition) => disposition,
            Err(e) => {
                // Trouble before the outcome was recorded (database down, ...).
                tracing::warn!(job_id = %job.id, sync_id = %job.sync_id, error = %e,
                    "could not run the job now");
                let cause = Deferral::Unavailable {
                    error: e.to_string(),
                    transient: e.is_transient(),
                };
                self.defer(job, envelope, &cause).await
            }
        }
    }

    /// Puts the job back, or (bounded) fails it saying why.
    async fn defer(&self, job: &Job, envelope: &JobEnvelope, cause: &Deferral) -> Disposition {
        match decide_deferral(cause, envelope.deferrals, &self.retry) {
            Deferred::Later(delay) => Disposition::Later { delay },
            Deferred::Fail(message) => self.fail(job, envelope, &message).await,
        }
    }

    /// Records the job failed with `message`; when even that fails, the job
    /// goes to the dead-letter queue (never lost, never looping).
    pub async fn fail(&self, job: &Job, envelope: &JobEnvelope, message: &str) -> Disposition {
        let start = self.start_record(job, envelope);
        match self.ctx.store.fail_job(&start, message).await {
            Ok(()) => {
                tracing::warn!(job_id = %job.id, sync_id = %job.sync_id, message, "job failed");
                Disposition::Done(JobStatus::Failed)
            }
            Err(e) => {
                tracing::error!(job_id = %job.id, sync_id = %job.sync_id, error = %e,
                    "could not record the job's failure; dead-lettering it");
                Disposition::DeadLetter {
                    reason: message.to_string(),
                }
            }
        }
    }

    async fn try_handle(&self, job: &Job, envelope: &JobEnvelope) -> Result<Disposition, JobError> {
        let store = &self.ctx.store;
        if let Some(done) = self.already_handled(job, envelope).await? {
            return Ok(done);
        }
        let Some(lock) = store.try_lock_sync(job.sync_id).await? else {
            tracing::info!(job_id = %job.id, sync_id = %job.sync_id, "sync busy with another job; delaying");
            return Ok(self.defer(job, envelope, &Deferral::SyncBusy).await);
        };
        // Re-check under the lock: a duplicate may have finished meanwhile.
        let result = match self.already_handled(job, envelope).await {
            Ok(Some(done)) => Ok(done),
            Ok(None) => self.run_locked(job, envelope).await,
            Err(e) => Err(e),
        };
        lock.release().await;
        result
    }

    /// A redelivered job that already finished, or an older copy of a job
    /// that has moved on to a later attempt, is acknowledged without running.
    async fn already_handled(
        &self,
        job: &Job,
        envelope: &JobEnvelope,
    ) -> Result<Option<Disposition>, JobError> {
        Ok(match self.ctx.store.job_state(job.id).await? {
            Some(state) if state.status.is_final() => {
                tracing::info!(job_id = %job.id, status = %state.status, "job already finished; acknowledging");
                Some(Disposition::Done(state.status))
            }
            Some(state) if i64::from(state.attempt) > i64::from(envelope.attempt) => {
                tracing::info!(job_id = %job.id, "stale copy of a retried job; acknowledging");
                Some(Disposition::Done(state.status))
            }
            _ => None,
        })
    }

    fn start_record(&self, job: &Job, envelope: &JobEnvelope) -> JobStart {
        JobStart {
            job: job.clone(),
            attempt: i32::try_from(envelope.attempt).unwrap_or(i32::MAX),
            max_attempts: i32::try_from(self.retry.job_max_attempts).unwrap_or(i32::MAX),
            enqueued_at: envelope.enqueued_at,
            worker_id: self.worker_id.clone(),
        }
    }

    async fn run_locked(&self, job: &Job, envelope: &JobEnvelope) -> Result<Disposition, JobError> {
        let store = &self.ctx.store;
        let start = self.start_record(job, envelope);
        let Some(sync) = store.load_sync(job.sync_id).await? else {
            let msg = JobError::SyncNotFound(job.sync_id).to_string();
            store
                .record_unrun_job(&start, JobStatus::Failed, &msg)
                .await?;
            tracing::warn!(job_id = %job.id, sync_id = %job.sync_id, "{msg}");
            return Ok(Disposition::Done(JobStatus::Failed));
        };
        if job.job_type() == JobType::Sync {
            if let Some(latest) = store.latest_success_start(sync.id, JobType::Sync).await? {
                if envelope.enqueued_at < latest {
                    let msg = format!(
                        "Skipped: superseded by the run that started at {}, after this job was enqueued ({}); that run read a newer source",
                        latest.to_rfc3339(),
                        envelope.enqueued_at.to_rfc3339()
                    );
                    store
                        .record_unrun_job(&start, JobStatus::Skipped, &msg)
                        .await?;
                    tracing::info!(job_id = %job.id, sync_id = %sync.id, "superseded; skipped");
                    return Ok(Disposition::Done(JobStatus::Skipped));
                }
            }
        }

        store.start_job(&start).await?;
        let span = tracing::info_span!("job", job_id = %job.id, sync_id = %sync.id, sync = %sync.name,
            r#type = job.job_type().as_str(), attempt = envelope.attempt);
        let started = Instant::now();
        let result = {
            let heartbeat = self.heartbeat(job.id);
            tokio::pin!(heartbeat);
            let work = self.run_job(&sync, job.kind).instrument(span.clone());
            tokio::pin!(work);
            tokio::select! {
                result = &mut work => result,
                () = &mut heartbeat => unreachable!("the heartbeat loop never ends"),
            }
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (outcome, disposition) = decide(result, envelope.attempt, Utc::now(), &self.retry);
        store
            .finish_job(job.id, sync.id, job.job_type(), &outcome)
            .await?;
        let delete_sync = job.kind
            == JobKind::Remove {
                delete_sync_on_complete: true,
            };
        if outcome.status == JobStatus::Succeeded && delete_sync {
            store.delete_sync(sync.id).await?;
        }
        tracing::info!(parent: &span, status = %outcome.status, elapsed_ms, message = %outcome.message, "job finished");
        Ok(disposition)
    }

    async fn run_job(&self, sync: &SyncRecord, kind: JobKind) -> Result<Report, JobError> {
        #[cfg(feature = "test-hooks")]
        if sync.name == "test-hook:panic" {
            panic!("test hook: this sync panics");
        }
        match kind {
            JobKind::Sync { prune_unmanaged } => run_sync(&self.ctx, sync, prune_unmanaged).await,
            JobKind::Import { behavior } => run_import(&self.ctx, sync, behavior).await,
            JobKind::Remove { .. } => run_remove(&self.ctx, sync).await,
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
}
