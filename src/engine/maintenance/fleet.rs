//! The fleet's shared Humanitec budget: every worker process that writes
//! with a token reports its window for it to Postgres, about once per
//! Humanitec round trip, and reads how many other processes write with the
//! same token and what they hold. Three rounds after its last write it
//! withdraws, so the others take over its share within a few round trips.
//! Each window then takes its share of the additive step and moves towards
//! the fleet's mean, and a limiter made later starts at its share of what
//! the fleet found (`humanitec::limiter`, the design in `humanitec::window`
//! and docs/performance.md). A worker that writes nothing sends nothing.
//!
//! A failed round leaves the windows as they were: each process then
//! adapts alone, which is correct, only slower to settle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{run_rounds, ConfigError, LoopHandle, TestSignal};
use crate::config::Settings;
use crate::crypto::Cipher;
use crate::humanitec::{FleetShare, Limiters};
use crate::store::{Store, StoreError, WriterReport};

const SERVICE: &str = "fleet";

/// Another process's report counts for this long (several missed rounds:
/// it is gone without withdrawing, or cannot reach Postgres).
const LATELY: Duration = Duration::from_secs(2);
/// Rounds without a write after which this process stops counting as a
/// writer and withdraws: long enough to bridge the gap between one job's
/// writes and the next's, short enough that the others take over its
/// share within a few round trips (the simulation in
/// `humanitec::window_sim` measures what a late leave costs).
const QUIET_ROUNDS: u32 = 3;
/// How long a stopping worker tries to withdraw its reports (they expire
/// after `LATELY` anyway).
const WITHDRAW_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct FleetConfig {
    pub every: Duration,
    /// How long another process's report counts.
    pub lately: Duration,
    /// How long after its last write this process still reports.
    pub quiet: Duration,
    /// The name this worker reports under: its name in the list of
    /// workers and a random suffix of its own.
    pub worker_id: String,
}

impl FleetConfig {
    /// `HUMANITEC_FLEET_EVERY` (50 ms by default: a writer that joins or
    /// leaves is known to the others about one Humanitec round trip
    /// later); `None` when it is zero or writes are not adaptive (nothing
    /// to share).
    pub fn from_settings(settings: &Settings, worker_id: &str) -> Option<FleetConfig> {
        let w = &settings.worker;
        // The process's name is its host and pid; two workers in one
        // process (tests) or a reused pid must still count as two.
        let instance = uuid::Uuid::new_v4().simple().to_string();
        (w.write_adaptive && !w.fleet_every.is_zero()).then(|| FleetConfig {
            every: w.fleet_every,
            lately: LATELY.max(w.fleet_every * 4),
            quiet: w.fleet_every * QUIET_ROUNDS,
            worker_id: format!("{worker_id}/{}", &instance[..8]),
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::zero(SERVICE, "period", self.every)?;
        ConfigError::zero(SERVICE, "writer lifetime", self.lately)?;
        ConfigError::zero(SERVICE, "quiet time", self.quiet)
    }
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetRound {
    /// Tokens this process reported writing with (none: nothing was sent).
    pub writing: usize,
    /// Tokens other processes write with, and how many processes each.
    pub others: Vec<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct TestSignals {
    pub round_done: TestSignal<Result<FleetRound, StoreError>>,
}

pub struct Fleet {
    config: FleetConfig,
    store: Store,
    limiters: Arc<Limiters>,
    cipher: Cipher,
    signals: TestSignals,
    /// The last round reported writers: the first quiet round sends one
    /// empty report, which withdraws them.
    reported: AtomicBool,
}

impl Fleet {
    pub fn new(
        config: FleetConfig,
        store: Store,
        limiters: Arc<Limiters>,
        cipher: Cipher,
    ) -> Result<Fleet, ConfigError> {
        config.validate()?;
        Ok(Fleet {
            config,
            store,
            limiters,
            cipher,
            signals: TestSignals::default(),
            reported: AtomicBool::new(false),
        })
    }

    pub fn with_test_signals(mut self, signals: TestSignals) -> Fleet {
        self.signals = signals;
        self
    }

    /// The token's key in Postgres: a keyed hash of its in-memory hash, so
    /// the table holds nothing a reader without the instance's key could
    /// match against a token.
    fn token_key(&self, token_hash: &[u8; 32]) -> Vec<u8> {
        self.cipher.fingerprint(&[b"humanitec-writers", token_hash])
    }

    /// Reports this process's writers and shares the fleet's with every
    /// window. Sends nothing while this process writes nothing (its windows
    /// then start alone, and learn of the fleet within a round), after one
    /// empty report that withdraws what it reported before.
    pub async fn run_once(&self) -> Result<FleetRound, StoreError> {
        let writing = self.limiters.writing(self.config.quiet);
        if writing.is_empty() {
            self.limiters.share(HashMap::new());
            if self.reported.load(Ordering::Relaxed) {
                self.store
                    .ledger
                    .share_write_budget(&self.config.worker_id, &[], self.config.lately)
                    .await?;
                self.reported.store(false, Ordering::Relaxed);
            }
            return Ok(FleetRound::default());
        }
        let reports: Vec<WriterReport> = writing
            .iter()
            .map(|w| WriterReport {
                token_key: self.token_key(&w.token_hash),
                limit: w.limit,
                avoiding: w.avoiding,
            })
            .collect();
        let fleet = self
            .store
            .ledger
            .share_write_budget(&self.config.worker_id, &reports, self.config.lately)
            .await?;
        self.reported.store(true, Ordering::Relaxed);
        let by_key: HashMap<&[u8], FleetShare> = fleet
            .iter()
            .map(|f| {
                let share = FleetShare {
                    others: f.others,
                    others_limit: f.others_limit,
                    avoiding: f.avoiding,
                };
                (f.token_key.as_slice(), share)
            })
            .collect();
        // Back from keyed hashes to the limiters' own keys.
        let shares: HashMap<[u8; 32], FleetShare> = writing
            .iter()
            .zip(&reports)
            .filter_map(|(w, r)| Some((w.token_hash, *by_key.get(r.token_key.as_slice())?)))
            .collect();
        let round = FleetRound {
            writing: writing.len(),
            others: fleet.iter().map(|f| f.others).collect(),
        };
        self.limiters.share(shares);
        Ok(round)
    }

    /// Withdraws this process's reports (on its way out: the others take
    /// over its share at their next round, not when its reports expire).
    async fn withdraw(&self) {
        if !self.reported.load(Ordering::Relaxed) {
            return;
        }
        let done =
            self.store
                .ledger
                .share_write_budget(&self.config.worker_id, &[], self.config.lately);
        match tokio::time::timeout(WITHDRAW_WAIT, done).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not withdraw this worker's write reports")
            }
            Err(_) => tracing::debug!("withdrawing this worker's write reports took too long"),
        }
    }

    pub fn start(self, shutdown: &CancellationToken) -> LoopHandle {
        LoopHandle::spawn(SERVICE, shutdown, |stop| async move {
            run_rounds(
                &stop,
                (self.config.every, self.config.every),
                || self.run_once(),
                Some("could not share the Humanitec write budget with the fleet"),
                &self.signals.round_done,
            )
            .await;
            self.withdraw().await;
        })
    }
}
