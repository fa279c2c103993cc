//! The rescuer: a job whose message reached `secret-sync.dead` by any route
//! (the broker's delivery limit, or a failure the worker could not record)
//! ends `failed` in its rows, with the reason, instead of staying `pending`
//! or `running` for ever. The dead letters themselves stay for operators.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{run_rounds, ConfigError, LoopHandle, TestSignal};
use crate::config::Settings;
use crate::engine::{Admission, Disposition, Runner};
use crate::model::JobStatus;
use crate::queue::{Link, QueueError};
use crate::store::StoreError;

const SERVICE: &str = "rescuer";

/// Dead letters looked at per scan.
pub const SCAN_LIMIT: usize = 1000;

#[derive(Clone, Debug)]
pub struct RescuerConfig {
    /// How often the dead-letter queue is scanned (`JOB_RESCUE_EVERY`); the
    /// first scan is one period after the start.
    pub every: Duration,
    /// Dead letters looked at per scan at most.
    pub scan_limit: usize,
}

impl RescuerConfig {
    pub fn from_settings(settings: &Settings) -> RescuerConfig {
        RescuerConfig {
            every: settings.worker.rescue_every,
            scan_limit: SCAN_LIMIT,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::zero(SERVICE, "period (JOB_RESCUE_EVERY)", self.every)?;
        ConfigError::at_least(SERVICE, "scan_limit", self.scan_limit as u64, 1)
    }
}

/// What one scan did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RescueRound {
    /// Dead letters read (they all stay in the queue).
    pub scanned: usize,
    /// Jobs recorded `failed`, saying they were dead-lettered.
    pub failed: Vec<uuid::Uuid>,
    /// Jobs whose failure could not be recorded (logged); tried again at
    /// the next scan.
    pub not_recorded: Vec<uuid::Uuid>,
    /// Letters passed over: the job's row is final already, or the letter
    /// names another sync's job (refused, not this message's to write).
    pub passed_over: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RescueError {
    #[error("{0}")]
    Broker(#[from] QueueError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

#[derive(Clone, Debug, Default)]
pub struct TestSignals {
    /// Every scan's outcome, once it is done.
    pub round_done: TestSignal<Result<RescueRound, RescueError>>,
}

pub struct Rescuer {
    config: RescuerConfig,
    runner: Arc<Runner>,
    link: Link,
    signals: TestSignals,
}

impl Rescuer {
    /// Records failures through `runner` (as the worker records any
    /// failure); reads the dead letters through `link` (the worker's one
    /// broker connection).
    pub fn new(
        config: RescuerConfig,
        runner: Arc<Runner>,
        link: Link,
    ) -> Result<Rescuer, ConfigError> {
        config.validate()?;
        Ok(Rescuer {
            config,
            runner,
            link,
            signals: TestSignals::default(),
        })
    }

    pub fn with_test_signals(mut self, signals: TestSignals) -> Rescuer {
        self.signals = signals;
        self
    }

    /// Reads the dead letters (they stay) and records failed every job
    /// among them whose row is not final yet.
    pub async fn run_once(&self) -> Result<RescueRound, RescueError> {
        let broker = self.link.broker(super::BROKER_WAIT).await?;
        let dead = broker.dead_jobs(self.config.scan_limit).await?;
        let mut round = RescueRound {
            scanned: dead.len(),
            ..RescueRound::default()
        };
        for d in dead {
            // Refused for naming another sync's job: that job's row is not this
            // message's to write. The letter stays for the operator.
            if d.reason == Admission::FOREIGN_JOB_ID {
                round.passed_over += 1;
                continue;
            }
            let state = self.runner.ctx.store.ledger.job_state(d.job.id).await?;
            if state.is_some_and(|s| s.status.is_final()) {
                round.passed_over += 1;
                continue;
            }
            let message = format!(
                "Failed: the job was dead-lettered: {}. It is kept in the dead-letter queue; requeue it once the cause is fixed",
                d.reason
            );
            match self.runner.fail(&d.job, &d.envelope, &message).await {
                Disposition::Done(JobStatus::Failed) => {
                    tracing::warn!(job_id = %d.job.id, sync_id = %d.job.sync_id, reason = %d.reason,
                        "dead-lettered job recorded as failed");
                    round.failed.push(d.job.id);
                }
                // Logged by the runner; the letter is read again next scan.
                _ => round.not_recorded.push(d.job.id),
            }
        }
        Ok(round)
    }

    /// Scans every `every` (the first one period after the start), until
    /// stopped.
    pub fn start(self, shutdown: &CancellationToken) -> LoopHandle {
        LoopHandle::spawn(SERVICE, shutdown, |stop| async move {
            run_rounds(
                &stop,
                (self.config.every, self.config.every),
                || self.run_once(),
                Some("could not scan the dead-letter queue"),
                &self.signals.round_done,
            )
            .await;
        })
    }
}
