//! Keeps the gauges read from Postgres current (syncs by status, the
//! oldest pending job), and marks this worker seen for the overview's
//! list of workers. Every worker does it: the numbers are global, so
//! dashboards take `max` over workers.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{run_rounds, ConfigError, LoopHandle, TestSignal};
use crate::config::Settings;
use crate::http::Metrics;
use crate::store::{Store, StoreError};

const SERVICE: &str = "gauges";

#[derive(Clone, Debug)]
pub struct GaugesConfig {
    /// How often the gauges are read (`METRICS_REFRESH`); the first round
    /// runs at once.
    pub every: Duration,
    /// The name this worker is listed under.
    pub worker_id: String,
}

impl GaugesConfig {
    pub fn from_settings(settings: &Settings, worker_id: &str) -> GaugesConfig {
        GaugesConfig {
            every: settings.worker.metrics_refresh,
            worker_id: worker_id.to_string(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::zero(SERVICE, "period (METRICS_REFRESH)", self.every)
    }
}

/// What one round read and set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GaugesRound {
    /// This worker's row in the list of workers was refreshed.
    pub worker_seen: bool,
    /// Syncs by status (`never`, `pending`, ...), as set on the gauge.
    pub syncs_by_status: Option<Vec<(String, i64)>>,
    /// Seconds since the oldest pending job was enqueued, as set on the gauge.
    pub oldest_pending_seconds: Option<f64>,
}

#[derive(Clone, Debug, Default)]
pub struct TestSignals {
    /// Every round's outcome, once it is done.
    pub round_done: TestSignal<Result<GaugesRound, StoreError>>,
}

pub struct Gauges {
    config: GaugesConfig,
    store: Store,
    metrics: Metrics,
    signals: TestSignals,
}

impl Gauges {
    pub fn new(
        config: GaugesConfig,
        store: Store,
        metrics: Metrics,
    ) -> Result<Gauges, ConfigError> {
        config.validate()?;
        Ok(Gauges {
            config,
            store,
            metrics,
            signals: TestSignals::default(),
        })
    }

    pub fn with_test_signals(mut self, signals: TestSignals) -> Gauges {
        self.signals = signals;
        self
    }

    /// Marks the worker seen, then reads and sets each gauge. Each step is
    /// tried whatever became of the others; a failure is only logged
    /// (debug: the next round reads them again), and the first one is
    /// returned once all were tried.
    pub async fn run_once(&self) -> Result<GaugesRound, StoreError> {
        let mut round = GaugesRound::default();
        let mut first_error = None;
        match self
            .store
            .ledger
            .mark_worker_seen(&self.config.worker_id)
            .await
        {
            Ok(()) => round.worker_seen = true,
            Err(e) => {
                tracing::debug!(error = %e, "could not mark this worker seen");
                first_error.get_or_insert(e);
            }
        }
        match self.store.ledger.sync_status_counts().await {
            Ok(counts) => {
                self.metrics.set_sync_counts(&counts);
                round.syncs_by_status = Some(counts);
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not count syncs for metrics");
                first_error.get_or_insert(e);
            }
        }
        match self.store.ledger.oldest_pending_job_age().await {
            Ok(age) => {
                self.metrics.oldest_pending_seconds.set(age);
                round.oldest_pending_seconds = Some(age);
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not read the oldest pending job for metrics");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => Ok(round),
            Some(e) => Err(e),
        }
    }

    /// Runs a round at once, then every `every`, until stopped.
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
