//! The lifecycle of one job delivery (the shell around `admit` and
//! `decide`): take the sync's lease (one statement), open the job under it
//! (one statement: marker, sync, supersession facts), admit, run, record
//! the outcome and release the lease (one statement, which writes the whole
//! job row). A run still going after `SHOW_RUNNING_AFTER` is marked
//! `running` (one statement) for people watching. The worker turns the returned `Disposition` into broker
//! actions; status is always written before the delivery is acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::admit::{admit, duplicate, Admission};
use super::decide::{decide, decide_deferral, Deferral, Deferred, Disposition};
use super::fence::LeaseFence;
use super::pause::{PauseWatch, RunHold};
use crate::config::RetrySettings;
use crate::jobs::run_kind;
use crate::jobs::JobContext;
use crate::jobs::{InfraError, JobError, JobFailure};
use crate::model::{
    Debounce, Job, JobEnvelope, JobKind, JobStatus, Report, RetryPolicy, StartView, SyncRecord,
};
use crate::store::{JobStart, LeaseTake, Parked, SyncLease};

pub struct Runner {
    pub ctx: JobContext,
    /// How jobs are retried and deferred (see `retry_policy`).
    pub retry: RetryPolicy,
    /// When a queued sync job may start (see `Debounce`).
    pub debounce: Debounce,
    pub worker_id: String,
    /// How often a running job renews its heartbeat and its sync's lease.
    pub heartbeat_every: Duration,
    /// How long a sync's lease lasts without renewal (a dead worker's sync
    /// is free again after this).
    pub lease_ttl: Duration,
    /// Cancelled when the shutdown grace period is over: running jobs stop,
    /// release their lease and hand their job back at once, rather than
    /// leaving the sync locked until the lease expires.
    pub abandon: CancellationToken,
    /// Called with each job's sync just before its work starts, under the
    /// lease. Unset in the product; an embedder (the test kit) sets it to
    /// inject faults into real runs.
    pub before_run: OnceLock<BeforeRun>,
    /// The pauses in force (issue 41), kept current by the pause listener:
    /// every run's Humanitec writes are held back while its sync's
    /// connection or the instance is paused.
    pub pauses: PauseWatch,
}

/// How long a run goes before its job and sync show `running`. Most runs
/// (nothing to change) are over sooner, and record their outcome in one
/// statement instead of two: a write to the job row and the sync row
/// fewer per job (about 15% of the database's work for a no-op job). A
/// person watching a longer run still sees it running.
pub const SHOW_RUNNING_AFTER: Duration = Duration::from_millis(200);

/// The job-level part of the retry settings, as `decide` takes it.
pub fn retry_policy(retry: &RetrySettings) -> RetryPolicy {
    RetryPolicy {
        job_max_attempts: retry.job_max_attempts,
        job_retry_delays: retry.job_retry_delays.clone(),
        busy_delay: retry.busy_delay,
        max_deferrals: retry.max_deferrals,
    }
}

/// See [`Runner::before_run`].
pub type BeforeRun = Arc<dyn Fn(&SyncRecord) + Send + Sync>;

/// Why a run stopped before recording its outcome.
enum Stopped {
    /// The sync's lease is no longer ours: stop writing, hand the job back.
    LeaseLost(&'static str),
    /// The worker is stopping and the grace period is over.
    Abandoned,
    /// A pause stopped the run, and had ended before the job was parked:
    /// the job runs again.
    PauseEnded,
}

impl Runner {
    pub async fn handle(&self, job: &Job, envelope: &JobEnvelope) -> Disposition {
        match self.try_handle(job, envelope).await {
            Ok(disposition) => disposition,
            Err(e) => {
                // Trouble before the outcome was recorded (database down, ...).
                tracing::warn!(job_id = %job.id, sync_id = %job.sync_id, error = %e.detail(),
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
        let start = self.start_record(job, envelope, None);
        match self.ctx.store.ledger.fail_job(&start, message).await {
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

    async fn try_handle(
        &self,
        job: &Job,
        envelope: &JobEnvelope,
    ) -> Result<Disposition, InfraError> {
        let store = &self.ctx.store;
        let holder = format!("{} {}", self.worker_id, job.id);
        let attempt = store
            .ledger
            .try_lease_sync(job.sync_id, job.id, &holder, self.lease_ttl)
            .await?;
        if attempt.foreign_job {
            if let LeaseTake::Taken(lease) = &attempt.take {
                self.release(lease).await;
            }
            return Ok(self.refuse_foreign_job_id(job));
        }
        // A duplicate is acknowledged even while its sync is busy.
        if let Some(status) = duplicate(envelope, attempt.prior) {
            if let LeaseTake::Taken(lease) = &attempt.take {
                self.release(lease).await;
            }
            return Ok(self.acknowledge_duplicate(job, status));
        }
        let lease = match attempt.take {
            LeaseTake::Taken(lease) => lease,
            LeaseTake::Busy => {
                tracing::info!(job_id = %job.id, sync_id = %job.sync_id, "sync busy with another job; delaying");
                return Ok(self.defer(job, envelope, &Deferral::SyncBusy).await);
            }
            LeaseTake::NoSuchSync => return self.sync_not_found(job, envelope).await,
        };
        let result = self.run_leased(job, envelope, &lease).await;
        // Every path that returns a disposition has released the lease with
        // its last write; the others release it here.
        if !matches!(result, Ok(Ok(_))) {
            self.release(&lease).await;
        }
        let message = match result? {
            Ok(disposition) => return Ok(disposition),
            Err(Stopped::LeaseLost(why)) => {
                tracing::warn!(job_id = %job.id, sync_id = %job.sync_id, reason = why,
                    "lost the sync's lease mid-run; stopped and handed the job back");
                "this run lost its sync's lease and stopped; the job runs again later"
            }
            Err(Stopped::Abandoned) => {
                tracing::warn!(job_id = %job.id, sync_id = %job.sync_id,
                    "shutdown grace period over; stopped the job and handed it back");
                "the worker stopped before this job finished; the job runs again on another worker"
            }
            Err(Stopped::PauseEnded) => {
                tracing::info!(job_id = %job.id, sync_id = %job.sync_id,
                    "the pause that stopped this run has ended; the job runs again");
                "a pause stopped this run and has ended since; the job runs again"
            }
        };
        store
            .ledger
            .hand_back_job(
                job.id,
                job.sync_id,
                job.job_type(),
                &self.worker_id,
                message,
            )
            .await?;
        Ok(Disposition::Later {
            delay: self.retry.busy_delay,
        })
    }

    /// A message whose `jobId` is another sync's job: dead-lettered with
    /// the reason, never run, and that job's row is not touched.
    fn refuse_foreign_job_id(&self, job: &Job) -> Disposition {
        tracing::warn!(job_id = %job.id, sync_id = %job.sync_id,
            "refused: the message's jobId is another sync's job");
        Disposition::DeadLetter {
            reason: Admission::FOREIGN_JOB_ID.to_string(),
        }
    }

    fn acknowledge_duplicate(&self, job: &Job, status: JobStatus) -> Disposition {
        if status.is_final() {
            tracing::info!(job_id = %job.id, %status, "job already finished; acknowledging");
        } else {
            tracing::info!(job_id = %job.id, "stale copy of a retried job; acknowledging");
        }
        Disposition::Done(status)
    }

    async fn release(&self, lease: &SyncLease) {
        if let Err(e) = self.ctx.store.ledger.release_lease(lease).await {
            tracing::warn!(sync_id = %lease.sync_id, error = %e,
                "could not release the sync lease; retrying in the background");
            // The database may be back in a moment: keep trying (doubling
            // from 1 s) while the lease could still block the sync; it
            // expires by itself after that anyway.
            let (store, lease) = (self.ctx.store.clone(), lease.clone());
            let delays = ExponentialBuilder::new()
                .with_min_delay(Duration::from_secs(1))
                .with_factor(2.0)
                .with_max_delay(self.lease_ttl)
                .with_total_delay(Some(self.lease_ttl))
                .without_max_times();
            tokio::spawn(async move {
                let released = (|| store.ledger.release_lease(&lease))
                    .retry(delays)
                    .sleep(tokio::time::sleep)
                    .await;
                if released.is_err() {
                    tracing::info!(sync_id = %lease.sync_id,
                        "gave up releasing the sync lease; it has expired by now");
                }
            });
        }
    }

    async fn sync_not_found(
        &self,
        job: &Job,
        envelope: &JobEnvelope,
    ) -> Result<Disposition, InfraError> {
        let start = self.start_record(job, envelope, None);
        let msg = JobFailure::SyncNotFound(job.sync_id).to_string();
        self.ctx
            .store
            .ledger
            .record_unrun_job(&start, JobStatus::Failed, &msg, None)
            .await?;
        tracing::warn!(job_id = %job.id, sync_id = %job.sync_id, "{msg}");
        Ok(Disposition::Done(JobStatus::Failed))
    }

    /// The job row's values for this delivery; `opened` is what its run
    /// read under the lease (None: recorded without a run).
    fn start_record(
        &self,
        job: &Job,
        envelope: &JobEnvelope,
        opened: Option<&StartView>,
    ) -> JobStart {
        let marker = opened.and_then(|view| view.marker);
        JobStart {
            job: job.clone(),
            attempt: i32::try_from(envelope.attempt).unwrap_or(i32::MAX),
            max_attempts: i32::try_from(self.retry.job_max_attempts).unwrap_or(i32::MAX),
            enqueued_at: envelope.enqueued_at,
            worker_id: self.worker_id.clone(),
            coalesced: marker.map_or(1, |m| m.coalesced),
            covers_until: marker.map(|m| m.taken_at),
            started_at: opened.map(|view| view.opened_at),
        }
    }

    /// Runs the job under the sync's lease. Every `Ok(Ok(_))` return has
    /// released the lease (or the sync row is gone).
    async fn run_leased(
        &self,
        job: &Job,
        envelope: &JobEnvelope,
        lease: &SyncLease,
    ) -> Result<Result<Disposition, Stopped>, InfraError> {
        let store = &self.ctx.store;
        let view = store
            .ledger
            .open_leased_job(job.sync_id, job.id, job.job_type(), self.debounce)
            .await?;
        let start = self.start_record(job, envelope, Some(&view));
        match admit(job.job_type(), envelope, &view) {
            Admission::Duplicate(status) => {
                self.release(lease).await;
                return Ok(Ok(self.acknowledge_duplicate(job, status)));
            }
            Admission::Superseded {
                covers_until,
                latest,
            } => {
                let msg = Admission::superseded_message(covers_until, latest);
                store
                    .ledger
                    .record_unrun_job(&start, JobStatus::Skipped, &msg, Some(lease))
                    .await?;
                tracing::info!(job_id = %job.id, sync_id = %job.sync_id, "superseded; skipped");
                return Ok(Ok(Disposition::Done(JobStatus::Skipped)));
            }
            Admission::Wait(left) => {
                self.release(lease).await;
                // Put back for a whole quiet period, not the exact rest of
                // it: a burst that goes on is looked at again later (the
                // wait ladder would keep any delay to within 125 ms).
                let delay = self.debounce.quiet.max(Duration::from_millis(10));
                tracing::debug!(job_id = %job.id, sync_id = %job.sync_id, ?left, ?delay,
                    "requests are still folding into this sync job; waiting for them to stop");
                return Ok(Ok(Disposition::Later { delay }));
            }
            Admission::ForeignJobId => {
                self.release(lease).await;
                return Ok(Ok(self.refuse_foreign_job_id(job)));
            }
            Admission::Paused(pause) => {
                return self.park(job, &start, &pause.job_message(), lease).await;
            }
            Admission::Run => {}
        }
        let Some(sync) = view.sync else {
            return self.sync_not_found(job, envelope).await.map(Ok);
        };

        let span = tracing::info_span!("job", job_id = %job.id, sync_id = %sync.id, sync = %sync.name,
            r#type = job.job_type().as_str(), attempt = envelope.attempt, coalesced = start.coalesced,
            trace_id = tracing::field::Empty, parent_span_id = tracing::field::Empty);
        if let Some(trace) = envelope.trace {
            // The enqueuer's trace continues here (W3C traceparent header):
            // in the logs, and as the exported span's parent.
            span.record("trace_id", trace.trace_id_hex());
            span.record("parent_span_id", trace.parent_id_hex());
            crate::telemetry::continue_trace(&span, trace);
        }
        crate::telemetry::set_attribute(&span, "job_type", job.job_type().as_str().into());
        let started = Instant::now();
        // Shows the run `running` if it is still going after a while. It
        // runs beside the work (never holding it up: the work may hold pool
        // connections the write waits for), and once sent it is waited for
        // before anything else is written, so it cannot land after them.
        let running_sent = AtomicBool::new(false);
        let mark_running = async {
            tokio::time::sleep(SHOW_RUNNING_AFTER).await;
            running_sent.store(true, Ordering::Relaxed);
            store.ledger.start_job(&start).await
        };
        tokio::pin!(mark_running);
        let mut marking = true;
        // Asked before every Humanitec write of this run (issue 41).
        let hold = RunHold::new(self.pauses.clone(), sync.connection_id);
        let ended = {
            let heartbeat = self.heartbeat(job.id, lease, &hold);
            tokio::pin!(heartbeat);
            let fence = LeaseFence {
                store,
                job_id: job.id,
                lease,
                ttl: self.lease_ttl,
                hold: &hold,
            };
            let work = self
                .run_job(&fence, &sync, job.kind, &hold)
                .instrument(span.clone());
            tokio::pin!(work);
            loop {
                tokio::select! {
                    result = &mut work => break Ok(result),
                    // Dropping `work` stops its Humanitec calls at once.
                    lost = &mut heartbeat => break Err(lost),
                    () = self.abandon.cancelled() => break Err(Stopped::Abandoned),
                    marked = &mut mark_running, if marking => {
                        marking = false;
                        marked?;
                    }
                }
            }
        };
        if marking && running_sent.load(Ordering::Relaxed) {
            mark_running.await?;
        }
        let result = match ended {
            Ok(result) => result,
            Err(stopped) => return Ok(Err(stopped)),
        };
        if let Err(JobError::LeaseLost) = result {
            return Ok(Err(Stopped::LeaseLost(
                "the lease was no longer this run's when it was about to write",
            )));
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        if let Err(JobError::Infra(e)) = &result {
            // The row says only the class of problem; the detail is here.
            tracing::warn!(parent: &span, error = %e.detail(), "the job's infrastructure failed");
        }
        let (mut outcome, disposition) = decide(result, envelope.attempt, Utc::now(), &self.retry);
        if start.coalesced > 1 {
            outcome.message = format!(
                "{} (this run covered {} requests)",
                outcome.message, start.coalesced
            );
        }
        let delete_sync = job.kind
            == JobKind::Remove {
                delete_sync_on_complete: true,
            };
        crate::telemetry::set_attribute(&span, "outcome", outcome.status.to_string());
        if outcome.status == JobStatus::Paused {
            // Writes that landed are recorded (pushed keys); the rest
            // waits on the parked job.
            tracing::info!(parent: &span, elapsed_ms, "a pause stopped the run before its next write");
            return self.park(job, &start, &outcome.message, lease).await;
        }
        let write = tracing::info_span!(target: crate::telemetry::SPANS, parent: &span,
            "record outcome", job_id = %job.id, sync_id = %sync.id, outcome = %outcome.status,
            db.system.name = "postgresql");
        let recorded = store
            .ledger
            .finish_job(&start, &outcome, lease, delete_sync)
            .instrument(write)
            .await?;
        if !recorded {
            return Ok(Err(Stopped::LeaseLost(
                "another run took the lease before the outcome was written",
            )));
        }
        tracing::info!(parent: &span, status = %outcome.status, elapsed_ms, outcome = %outcome.message, "job finished");
        Ok(Ok(disposition))
    }

    async fn run_job(
        &self,
        fence: &LeaseFence<'_>,
        sync: &SyncRecord,
        kind: JobKind,
        hold: &Arc<RunHold>,
    ) -> Result<Report, JobError> {
        if let Some(hook) = self.before_run.get() {
            hook(sync);
        }
        // The same client and write limits, with this run's writes held
        // back while a pause holds its sync.
        let ctx = JobContext {
            humanitec: self.ctx.humanitec.with_hold(hold.clone()),
            ..self.ctx.clone()
        };
        run_kind(kind, &ctx, fence, sync).await
    }

    /// Parks a job a pause holds (`paused` on its row, its marker kept,
    /// the lease released; the delivery is acknowledged): the resume
    /// publishes it again. If the pause ended meanwhile, the job runs
    /// again instead.
    async fn park(
        &self,
        job: &Job,
        start: &JobStart,
        message: &str,
        lease: &SyncLease,
    ) -> Result<Result<Disposition, Stopped>, InfraError> {
        match self
            .ctx
            .store
            .ledger
            .park_job(start, message, lease)
            .await?
        {
            Parked::Parked => {
                tracing::info!(job_id = %job.id, sync_id = %job.sync_id,
                    "a pause holds this sync's writes; parked the job until the resume");
                Ok(Ok(Disposition::Done(JobStatus::Paused)))
            }
            Parked::NotHeld => Ok(Err(Stopped::PauseEnded)),
            Parked::LeaseLost => Ok(Err(Stopped::LeaseLost(
                "another run took the lease before the job was parked",
            ))),
        }
    }

    /// Refreshes the job's heartbeat and renews the sync's lease until
    /// dropped; returns if the lease is lost (taken by another run, or not
    /// renewed for so long that it may have expired). The run stops a beat
    /// before the lease can expire however long a renewal hangs: another
    /// worker may take the sync the moment it does.
    async fn heartbeat(&self, job_id: Uuid, lease: &SyncLease, hold: &RunHold) -> Stopped {
        let mut renewed = lease.asked_at;
        loop {
            tokio::time::sleep(self.heartbeat_every).await;
            let stop_by = renewed + self.lease_ttl.saturating_sub(self.heartbeat_every);
            let asked = Instant::now();
            let beat = self
                .ctx
                .store
                .ledger
                .heartbeat(job_id, lease, self.lease_ttl);
            match tokio::time::timeout_at(stop_by.into(), beat).await {
                Ok(Ok(Some(paused))) => {
                    renewed = asked;
                    // The run's next write is held back (and the job parked).
                    if paused {
                        hold.saw_pause();
                    }
                }
                Ok(Ok(None)) => return Stopped::LeaseLost("the lease was taken by another run"),
                Ok(Err(e)) => {
                    tracing::warn!(%job_id, error = %e, "could not renew the job heartbeat and sync lease");
                    if Instant::now() + self.heartbeat_every >= stop_by {
                        return Stopped::LeaseLost("the lease could not be renewed in time");
                    }
                }
                Err(_) => return Stopped::LeaseLost("the lease could not be renewed in time"),
            }
        }
    }
}
