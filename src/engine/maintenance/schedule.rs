//! Reconcile on a schedule: every auto-synced sync is re-run every
//! `SYNC_RECONCILE_INTERVAL` even when nothing announces a change, so a
//! value edited by hand in Humanitec is repaired; a no-op run costs the one
//! Humanitec listing it always costs. Each sync has its own phase of the
//! interval (store::schedule), so the runs spread out; a failed sync is
//! retried four times less often until it recovers. Jobs go through the one
//! enqueue path (trigger `schedule`) and fold into any already queued.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{run_rounds, ConfigError, LoopHandle, TestSignal};
use crate::config::Settings;
use crate::engine::JobClient;
use crate::model::JobKind;
use crate::queue::{Link, QueueError};
use crate::store::{Store, StoreError};

const SERVICE: &str = "schedule";

/// How often due syncs are looked for.
pub const TICK: Duration = Duration::from_secs(1);
/// New syncs are given a slot every this many ticks.
pub const DISCOVER_EVERY: u32 = 15;
/// Syncs enqueued per tick at most (the rest wait for the next tick).
pub const BATCH: i64 = 500;
/// A sync whose last run failed is re-run this many times less often.
pub const FAILED_SLOWER: u32 = 4;

#[derive(Clone, Debug)]
pub struct ScheduleConfig {
    /// Every auto-synced sync is re-run this often (`SYNC_RECONCILE_INTERVAL`).
    pub interval: Duration,
    /// ...and one whose last run failed, this often.
    pub failed_interval: Duration,
    /// How often due syncs are looked for; the first look is at once.
    pub tick: Duration,
    /// New syncs are given a slot every this many ticks (the first tick
    /// included).
    pub discover_every: u32,
    /// Syncs enqueued per tick at most.
    pub batch: i64,
}

impl ScheduleConfig {
    /// The schedule for `interval`; `None` when it is zero (the setting's
    /// "off": the worker then starts no schedule).
    pub fn new(interval: Duration) -> Option<ScheduleConfig> {
        (!interval.is_zero()).then(|| ScheduleConfig {
            interval,
            failed_interval: interval * FAILED_SLOWER,
            tick: TICK,
            discover_every: DISCOVER_EVERY,
            batch: BATCH,
        })
    }

    pub fn from_settings(settings: &Settings) -> Option<ScheduleConfig> {
        ScheduleConfig::new(settings.sync_reconcile_interval)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        // Zero is "off", which is no schedule at all (see `new`).
        ConfigError::zero(SERVICE, "interval", self.interval)?;
        ConfigError::zero(SERVICE, "failed_interval", self.failed_interval)?;
        ConfigError::zero(SERVICE, "tick", self.tick)?;
        ConfigError::at_least(SERVICE, "discover_every", u64::from(self.discover_every), 1)?;
        ConfigError::at_least(SERVICE, "batch", self.batch.max(0) as u64, 1)
    }
}

/// What one tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleRound {
    /// New syncs given their first slot (`None`: not looked for this tick,
    /// or the look failed, logged).
    pub scheduled: Option<u64>,
    /// Syncs whose slot had come (their slots moved on to the next).
    pub due: usize,
    /// Jobs enqueued for them (trigger `schedule`).
    pub enqueued: Vec<uuid::Uuid>,
    /// Syncs whose job could not be enqueued (logged); they run at their
    /// next slot.
    pub not_enqueued: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("could not read the syncs due for a reconcile: {0}")]
    Store(#[from] StoreError),
    /// Their slots moved on: they run at the next one.
    #[error("could not reach the broker for {skipped} scheduled reconcile(s): {source}")]
    Broker { skipped: usize, source: QueueError },
}

#[derive(Clone, Debug, Default)]
pub struct TestSignals {
    /// Every tick's outcome, once it is done.
    pub round_done: TestSignal<Result<ScheduleRound, ScheduleError>>,
}

pub struct Schedule {
    config: ScheduleConfig,
    store: Store,
    jobs: JobClient,
    round: AtomicU32,
    signals: TestSignals,
}

impl Schedule {
    /// Enqueues through a [`JobClient`] on `link` (the worker's one broker
    /// connection; the product's one enqueue path).
    pub fn new(
        config: ScheduleConfig,
        store: Store,
        settings: &Settings,
        link: Link,
    ) -> Result<Schedule, ConfigError> {
        config.validate()?;
        Ok(Schedule {
            jobs: JobClient::on(link, settings, store.clone(), super::BROKER_WAIT),
            config,
            store,
            round: AtomicU32::new(0),
            signals: TestSignals::default(),
        })
    }

    pub fn with_test_signals(mut self, signals: TestSignals) -> Schedule {
        self.signals = signals;
        self
    }

    /// One tick: gives new syncs a slot (every `discover_every` ticks, the
    /// first included), then enqueues a job for each sync whose slot came.
    pub async fn run_once(&self) -> Result<ScheduleRound, ScheduleError> {
        let mut round = ScheduleRound::default();
        let n = self.round.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(self.config.discover_every) {
            match self
                .store
                .ledger
                .schedule_new_syncs(self.config.interval)
                .await
            {
                Ok(scheduled) => round.scheduled = Some(scheduled),
                Err(e) => {
                    tracing::warn!(error = %e, "could not schedule new syncs for reconciling")
                }
            }
        }
        let due = self
            .store
            .ledger
            .take_due_syncs(
                self.config.interval,
                self.config.failed_interval,
                self.config.batch,
            )
            .await?
            .due;
        round.due = due.len();
        if due.is_empty() {
            return Ok(round);
        }
        let jobs = &self.jobs;
        if let Err(source) = jobs.ready().await {
            return Err(ScheduleError::Broker {
                skipped: due.len(),
                source,
            });
        }
        for sync_id in due {
            match jobs.enqueue(sync_id, JobKind::SYNC, "schedule").await {
                Ok(job_id) => round.enqueued.push(job_id),
                Err(e) => {
                    tracing::warn!(%sync_id, error = %e, "could not enqueue a scheduled reconcile");
                    round.not_enqueued += 1;
                }
            }
        }
        Ok(round)
    }

    /// Ticks at once, then every `tick`, until stopped; then closes its
    /// broker connection.
    pub fn start(self, shutdown: &CancellationToken) -> LoopHandle {
        LoopHandle::spawn(SERVICE, shutdown, |stop| async move {
            run_rounds(
                &stop,
                (Duration::ZERO, self.config.tick),
                || self.run_once(),
                Some("scheduled reconciles: tick failed"),
                &self.signals.round_done,
            )
            .await;
        })
    }
}
