//! Pauses (issue 41): keeps the worker's [`PauseWatch`] current, so that
//! a running job's next Humanitec write is held back the moment a pause
//! begins, and sets the pause gauges the alert rule reads. A round reads
//! the active pauses, and publishes again the parked jobs no pause holds
//! any more (a resume whose publishes failed, a park that raced a resume).
//! It runs at start, at once whenever a pause begins or ends (`LISTEN
//! secret_sync_pauses`, on a connection of its own), and every `every`
//! besides (`METRICS_REFRESH`), which is also how a worker behind a pooler
//! in transaction mode, where `LISTEN` does not hold, learns of one.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{ticker, unless_stopped, ConfigError, LoopHandle, TestSignal};
use crate::config::Settings;
use crate::engine::pause::{publish_released, PauseWatch};
use crate::http::Metrics;
use crate::queue::{Link, QueueError};
use crate::store::{Store, StoreError};

const SERVICE: &str = "pauses";

#[derive(Clone, Debug)]
pub struct PausesConfig {
    /// A round this often besides the notifications (and the wait before
    /// listening again after the listening connection was lost).
    pub every: Duration,
    /// `PAUSE_ALERT_AFTER`, exported for the alert rule.
    pub alert_after: Duration,
}

impl PausesConfig {
    pub fn from_settings(settings: &Settings) -> PausesConfig {
        PausesConfig {
            every: settings.worker.metrics_refresh,
            alert_after: settings.worker.pause_alert_after,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::zero(SERVICE, "period (METRICS_REFRESH)", self.every)
    }
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PausesRound {
    /// Active pauses read (the instance's and each paused connection's).
    pub active: usize,
    /// Parked jobs published again (no pause holds their sync any more).
    pub released: Vec<Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum PausesError {
    #[error("could not read the pauses: {0}")]
    Store(#[from] StoreError),
    /// The released jobs stay `pending`; the orphans loop publishes them.
    #[error("could not publish {count} released job(s): {source}")]
    Broker { count: usize, source: QueueError },
}

#[derive(Clone, Debug, Default)]
pub struct TestSignals {
    /// Every round's outcome, once it is done.
    pub round_done: TestSignal<Result<PausesRound, PausesError>>,
}

pub struct Pauses {
    config: PausesConfig,
    store: Store,
    link: Link,
    watch: PauseWatch,
    metrics: Metrics,
    signals: TestSignals,
}

impl Pauses {
    /// Keeps `watch` (the runner's) current; publishes through `link`.
    pub fn new(
        config: PausesConfig,
        store: Store,
        link: Link,
        watch: PauseWatch,
        metrics: Metrics,
    ) -> Result<Pauses, ConfigError> {
        config.validate()?;
        metrics
            .pause_alert_after
            .set(config.alert_after.as_secs_f64());
        Ok(Pauses {
            config,
            store,
            link,
            watch,
            metrics,
            signals: TestSignals::default(),
        })
    }

    pub fn with_test_signals(mut self, signals: TestSignals) -> Pauses {
        self.signals = signals;
        self
    }

    /// Reads the active pauses into the watch and the gauges, then
    /// publishes the parked jobs nothing holds any more.
    pub async fn run_once(&self) -> Result<PausesRound, PausesError> {
        let active = self.store.ledger.active_pauses().await?;
        self.watch.set(&active);
        let started: Vec<_> = active
            .iter()
            .map(|p| (p.connection_id.is_none(), p.paused_at))
            .collect();
        self.metrics.set_pauses(&started);
        let mut round = PausesRound {
            active: active.len(),
            ..PausesRound::default()
        };
        let released = self.store.ledger.release_parked_jobs().await?;
        if released.is_empty() {
            return Ok(round);
        }
        let count = released.len();
        let broker = self
            .link
            .broker(super::BROKER_WAIT)
            .await
            .map_err(|source| PausesError::Broker { count, source })?;
        let publisher = broker
            .publisher()
            .await
            .map_err(|source| PausesError::Broker { count, source })?;
        for job in &released {
            match publish_released(&publisher, job).await {
                Ok(()) => round.released.push(job.id),
                Err(e) => tracing::warn!(job_id = %job.id, error = %e,
                    "could not publish a released job; the orphans loop publishes it"),
            }
        }
        tracing::info!(
            released = round.released.len(),
            "published parked jobs no pause holds any more"
        );
        Ok(round)
    }

    async fn round(&self) {
        let done = self.run_once().await;
        if let Err(e) = &done {
            tracing::warn!(error = %e, "pauses: round failed");
        }
        self.signals.round_done.send(done);
    }

    /// Listens for pauses (and listens again after losing the connection),
    /// with a round at start, on every notification and every `every`.
    pub fn start(self, shutdown: &CancellationToken) -> LoopHandle {
        LoopHandle::spawn(SERVICE, shutdown, |stop| async move {
            let mut tick = ticker(self.config.every, self.config.every);
            loop {
                // Cut by a shutdown, as every round is: a database that does
                // not answer must not hold the worker's stop.
                let Some(listened) = unless_stopped(&stop, self.store.ledger.listen_pauses()).await
                else {
                    return;
                };
                let mut feed = match listened {
                    Ok(feed) => Some(feed),
                    Err(e) => {
                        tracing::warn!(error = %e,
                            "cannot listen for pauses; reading them every METRICS_REFRESH instead");
                        None
                    }
                };
                if unless_stopped(&stop, self.round()).await.is_none() {
                    return;
                }
                loop {
                    let changed = async {
                        match feed.as_mut() {
                            Some(feed) => feed.changed().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = stop.cancelled() => return,
                        told = changed => {
                            if !told {
                                tracing::warn!("lost the connection that listens for pauses; listening again");
                                break;
                            }
                            if unless_stopped(&stop, self.round()).await.is_none() {
                                return;
                            }
                        }
                        _ = tick.tick() => {
                            if feed.is_none() {
                                break;
                            }
                            if unless_stopped(&stop, self.round()).await.is_none() {
                                return;
                            }
                        }
                    }
                }
            }
        })
    }
}
