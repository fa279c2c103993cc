//! The reaper: hands rows left `running` by dead workers back to
//! `pending`. A job whose heartbeat is older than `JOB_STALE_AFTER` had its
//! worker stop mid-run; its message goes back to the broker with the dead
//! connection, and the row says it waits again.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{run_rounds, ConfigError, LoopHandle, TestSignal};
use crate::config::Settings;
use crate::store::{StaleJob, Store, StoreError};

const SERVICE: &str = "reaper";

#[derive(Clone, Debug)]
pub struct ReaperConfig {
    /// A `running` job whose heartbeat is older than this is reaped
    /// (`JOB_STALE_AFTER`).
    pub stale_after: Duration,
    /// How often it looks; the first round is one period after the start.
    pub every: Duration,
}

impl ReaperConfig {
    /// Looks every half of `stale_after`, so a dead worker's job waits at
    /// most one and a half times `stale_after`; but at most once a second
    /// (clamped: a round reads every running job, and `JOB_STALE_AFTER` may
    /// be set as low as zero).
    pub fn new(stale_after: Duration) -> ReaperConfig {
        ReaperConfig {
            stale_after,
            every: (stale_after / 2).max(Duration::from_secs(1)),
        }
    }

    pub fn from_settings(settings: &Settings) -> ReaperConfig {
        ReaperConfig::new(settings.worker.stale_after)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::zero(SERVICE, "period", self.every)
    }
}

/// What one round did.
#[derive(Clone, Debug, Default)]
pub struct ReapRound {
    /// The jobs set back to `pending`.
    pub reaped: Vec<StaleJob>,
}

#[derive(Clone, Debug, Default)]
pub struct TestSignals {
    /// Every round's outcome, once it is done.
    pub round_done: TestSignal<Result<ReapRound, StoreError>>,
}

pub struct Reaper {
    config: ReaperConfig,
    store: Store,
    signals: TestSignals,
}

impl Reaper {
    pub fn new(config: ReaperConfig, store: Store) -> Result<Reaper, ConfigError> {
        config.validate()?;
        Ok(Reaper {
            config,
            store,
            signals: TestSignals::default(),
        })
    }

    pub fn with_test_signals(mut self, signals: TestSignals) -> Reaper {
        self.signals = signals;
        self
    }

    /// Sets every stale `running` job back to `pending` (a job whose rows
    /// another writer holds is passed over, and reaped in a later round).
    pub async fn run_once(&self) -> Result<ReapRound, StoreError> {
        let reaped = self
            .store
            .ledger
            .reap_stale_jobs(self.config.stale_after)
            .await?;
        for job in &reaped {
            tracing::warn!(job_id = %job.job_id, sync_id = %job.sync_id,
                "job's worker stopped mid-run; row set back to pending");
        }
        Ok(ReapRound { reaped })
    }

    /// Runs a round every `every` (the first one period after the start),
    /// until stopped.
    pub fn start(self, shutdown: &CancellationToken) -> LoopHandle {
        LoopHandle::spawn(SERVICE, shutdown, |stop| async move {
            run_rounds(
                &stop,
                (self.config.every, self.config.every),
                || self.run_once(),
                Some("could not reap stale jobs"),
                &self.signals.round_done,
            )
            .await;
        })
    }
}
