//! The API's periodic sweep of expired dashboard sessions (lookups already
//! refuse them; the sweep only keeps the table small), of audit entries
//! past `AUDIT_RETENTION`, and of notification attempts and delivered
//! notifications as old. Each round deletes a few small batches, so it
//! never holds many row locks or runs long.
//!
//! Started by `secret-sync api` (every API replica sweeps; the deletes are
//! idempotent). It needs no web state (the store and two settings), so it
//! lives with the other maintenance loops.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{run_rounds, ConfigError, LoopHandle, TestSignal};
use crate::config::Settings;
use crate::store::{Store, StoreError};

const SERVICE: &str = "sweeper";

/// Rows per statement, and statements per round: at most 10,000 a minute.
pub const BATCH: i64 = 500;
pub const BATCHES_PER_ROUND: usize = 20;
pub const EVERY: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct SweeperConfig {
    /// How often it sweeps; the first round runs at once.
    pub every: Duration,
    /// Rows deleted per statement at most.
    pub batch: i64,
    /// Statements per kind of row per round at most.
    pub batches_per_round: usize,
    /// A session unused this long is over (`SESSION_IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
    /// Audit entries and notification deliveries older than this go
    /// (`AUDIT_RETENTION`).
    pub retention: Duration,
}

impl SweeperConfig {
    pub fn from_settings(settings: &Settings) -> SweeperConfig {
        SweeperConfig {
            every: EVERY,
            batch: BATCH,
            batches_per_round: BATCHES_PER_ROUND,
            idle_timeout: settings.session.idle_timeout,
            retention: settings.audit_retention,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::zero(SERVICE, "period", self.every)?;
        ConfigError::at_least(SERVICE, "batch", self.batch.max(0) as u64, 1)?;
        ConfigError::at_least(
            SERVICE,
            "batches_per_round",
            self.batches_per_round as u64,
            1,
        )
    }
}

/// What one round deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepRound {
    /// Expired dashboard sessions (either end).
    pub sessions: u64,
    /// Audit entries past the retention.
    pub audit_entries: u64,
    /// Notification attempts and delivered notifications past the retention.
    pub deliveries: u64,
}

#[derive(Clone, Debug, Default)]
pub struct TestSignals {
    /// Every round's outcome, once it is done.
    pub round_done: TestSignal<Result<SweepRound, StoreError>>,
}

pub struct Sweeper {
    config: SweeperConfig,
    store: Store,
    signals: TestSignals,
}

impl Sweeper {
    pub fn new(config: SweeperConfig, store: Store) -> Result<Sweeper, ConfigError> {
        config.validate()?;
        Ok(Sweeper {
            config,
            store,
            signals: TestSignals::default(),
        })
    }

    pub fn with_test_signals(mut self, signals: TestSignals) -> Sweeper {
        self.signals = signals;
        self
    }

    /// Deletes each kind of row in batches. Each kind is swept whatever
    /// became of the others; a failure is logged where it happens, and the
    /// first one is returned once all were tried.
    pub async fn run_once(&self) -> Result<SweepRound, StoreError> {
        let c = &self.config;
        let store = &self.store;
        let mut first_error = None;
        let mut round = SweepRound::default();
        let mut sweep = |(deleted, error): (u64, Option<StoreError>)| {
            if let Some(e) = error {
                first_error.get_or_insert(e);
            }
            deleted
        };
        round.sessions = sweep(
            self.in_batches("expired dashboard sessions", || {
                store.auth.delete_expired_sessions(c.idle_timeout, c.batch)
            })
            .await,
        );
        round.audit_entries = sweep(
            self.in_batches("old audit entries", || {
                store.audit.delete_old_audit(c.retention, c.batch)
            })
            .await,
        );
        // Delivery attempts and delivered notifications: kept as long as
        // the audit log, for the channels' pages.
        round.deliveries = sweep(
            self.in_batches("old notification deliveries", || {
                store.outbox.delete_old_deliveries(c.retention, c.batch)
            })
            .await,
        );
        match first_error {
            None => Ok(round),
            Some(e) => Err(e),
        }
    }

    /// Runs `delete` until it deletes less than a batch (at most a round's
    /// worth); how many it deleted, and the error that stopped it.
    async fn in_batches<F, Fut>(&self, what: &str, delete: F) -> (u64, Option<StoreError>)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<u64, StoreError>>,
    {
        let mut deleted = 0;
        for _ in 0..self.config.batches_per_round {
            match delete().await {
                Ok(n) => {
                    deleted += n;
                    if n < self.config.batch as u64 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not delete {what}");
                    return (deleted, Some(e));
                }
            }
        }
        (deleted, None)
    }

    /// Sweeps at once, then every `every`, until stopped.
    pub fn start(self, shutdown: &CancellationToken) -> LoopHandle {
        LoopHandle::spawn(SERVICE, shutdown, |stop| async move {
            run_rounds(
                &stop,
                (Duration::ZERO, self.config.every),
                || self.run_once(),
                None,
                &self.signals.round_done,
            )
            .await;
        })
    }
}
