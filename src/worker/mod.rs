//! `secret-sync run`: consumes jobs and events until told to stop.
//!
//! A supervisor loop owns one broker session at a time; if the broker goes
//! away, in-flight jobs finish or are redelivered (they are idempotent) and
//! the session is rebuilt with backoff. Shutdown (SIGTERM/SIGINT, or the
//! token in tests) stops consuming, lets in-flight jobs finish within the
//! grace period, and hands the rest back to the broker.
//!
//! It is also the supervisor of the maintenance loops
//! (`engine::maintenance`: gauges, reaper, orphans, rescuer, schedule,
//! notifier): it builds their configs from the settings, starts them, and
//! stops them on shutdown.

mod deliveries;
mod events;
mod reconnect;
mod session;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::engine::maintenance::fleet::{Fleet, FleetConfig};
use crate::engine::maintenance::gauges::{Gauges, GaugesConfig};
use crate::engine::maintenance::notifier::{Notifier, NotifierConfig, NotifierError};
use crate::engine::maintenance::orphans::{Orphans, OrphansConfig};
use crate::engine::maintenance::pauses::{Pauses, PausesConfig};
use crate::engine::maintenance::reaper::{Reaper, ReaperConfig};
use crate::engine::maintenance::rescuer::{Rescuer, RescuerConfig};
use crate::engine::maintenance::schedule::{Schedule, ScheduleConfig};
use crate::engine::maintenance::LoopHandle;
use crate::engine::Runner;
use crate::http::Metrics;
use crate::jobs::JobContext;
use crate::queue::{Link, Names};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Setup(#[from] crate::jobs::SetupError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Maintenance(#[from] crate::engine::maintenance::ConfigError),
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Everything the sessions share. Cheap to clone.
#[derive(Clone)]
pub struct Shared {
    pub settings: Settings,
    pub names: Names,
    pub runner: Arc<Runner>,
    pub store: Store,
    pub metrics: Metrics,
    pub broker_connected: Arc<AtomicBool>,
    /// The process's one broker connection: the consumers, the publisher
    /// and the maintenance loops share it.
    pub link: Link,
}

impl Shared {
    /// Builds the worker's dependencies: checks the key, migrates the database.
    pub async fn build(settings: Settings) -> Result<Shared, WorkerError> {
        // The key first: a worker without one must not touch the database.
        settings.require_encryption_key()?;
        crate::store::ensure_database(&settings.database_url).await?;
        let store = Store::open(&settings.store(settings.database_pool_size))?;
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied database migrations");
        }
        let w = &settings.worker;
        let metrics = Metrics::new();
        let mut ctx = JobContext::from_settings(&settings, store.clone())?;
        // Every Humanitec request shows in /metrics.
        ctx.humanitec = ctx.humanitec.with_observer(Arc::new(metrics.clone()));
        let runner = Runner {
            ctx,
            retry: crate::engine::retry_policy(&w.retry),
            debounce: crate::model::Debounce {
                quiet: settings.sync_debounce,
                max_wait: settings.sync_debounce_max_wait,
            },
            worker_id: worker_id(),
            heartbeat_every: (w.stale_after / 4).max(Duration::from_millis(200)),
            lease_ttl: w.stale_after,
            abandon: CancellationToken::new(),
            before_run: Default::default(),
            pauses: Default::default(),
        };
        Ok(Shared {
            names: Names::new(&settings.queue_prefix),
            runner: Arc::new(runner),
            store,
            metrics,
            broker_connected: Arc::new(AtomicBool::new(false)),
            link: Link::new(
                &settings,
                Names::new(&settings.queue_prefix),
                "secret-sync worker",
            ),
            settings,
        })
    }
}

fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    format!("{host}:{}", std::process::id())
}

/// Runs the worker until `shutdown` is cancelled. Returns once in-flight
/// jobs have finished or the grace period ran out, and the maintenance
/// loops have stopped.
pub async fn run(shared: Shared, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let maintenance = start_maintenance(&shared, &shutdown)?;
    let (delays, healthy) = reconnect::Delays::new();
    let session = || async {
        // A shutdown during the wait ends it at once; do not reconnect then.
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let mut consumed = false;
        let ended = session::run_session(&shared, &shutdown, &mut consumed).await;
        // A session that got as far as consuming was healthy: this is a new
        // outage, so the delays start over.
        healthy.store(consumed, Ordering::Relaxed);
        ended
    };
    // Retried for as long as the worker runs (the delays never run out):
    // it ends on shutdown.
    let ended = session
        .retry(delays)
        .sleep(reconnect::UntilShutdown(shutdown.clone()))
        .notify(|e, delay| {
            shared.broker_connected.store(false, Ordering::Relaxed);
            tracing::error!(error = %e, retry_in_ms = delay.as_millis() as u64,
                "broker session ended; reconnecting");
        })
        .await;
    if let Err(e) = ended {
        tracing::error!(error = %e, "broker reconnects ran out");
    }
    shared.broker_connected.store(false, Ordering::Relaxed);
    // They saw the same shutdown and are ending already (the notifier lets
    // go of the claims of its sends in flight); wait until they have.
    for handle in maintenance {
        handle.stop().await;
    }
    shared.link.close("worker stopping").await;
    Ok(())
}

/// Builds the maintenance loops from the settings (each checks its
/// config) and starts them: gauges, the fleet's write budget (unless
/// `HUMANITEC_FLEET_EVERY` is zero), reaper, orphans, rescuer, pauses, the
/// schedule (unless `SYNC_RECONCILE_INTERVAL` is zero) and the
/// notification dispatcher (unless its HTTP client cannot be built).
fn start_maintenance(
    shared: &Shared,
    shutdown: &CancellationToken,
) -> Result<Vec<LoopHandle>, WorkerError> {
    let settings = &shared.settings;
    let store = &shared.store;
    let gauges = Gauges::new(
        GaugesConfig::from_settings(settings, &shared.runner.worker_id),
        store.clone(),
        shared.metrics.clone(),
    )?;
    let fleet = match FleetConfig::from_settings(settings, &shared.runner.worker_id) {
        Some(config) => Some(Fleet::new(
            config,
            store.clone(),
            shared.runner.ctx.humanitec.write_limiters(),
            shared.runner.ctx.cipher.clone(),
        )?),
        None => None,
    };
    let reaper = Reaper::new(ReaperConfig::from_settings(settings), store.clone())?;
    let orphans = Orphans::new(
        OrphansConfig::from_settings(settings),
        store.clone(),
        shared.link.clone(),
    )?;
    // Keeps the runner's view of the pauses current (issue 41).
    let pauses = Pauses::new(
        PausesConfig::from_settings(settings),
        store.clone(),
        shared.link.clone(),
        shared.runner.pauses.clone(),
        shared.metrics.clone(),
    )?;
    let rescuer = Rescuer::new(
        RescuerConfig::from_settings(settings),
        shared.runner.clone(),
        shared.link.clone(),
    )?;
    let schedule = match ScheduleConfig::from_settings(settings) {
        Some(config) => Some(Schedule::new(
            config,
            store.clone(),
            settings,
            shared.link.clone(),
        )?),
        None => None,
    };
    let notifier = match Notifier::new(
        NotifierConfig::from_settings(settings),
        store.clone(),
        shared.runner.ctx.cipher.clone(),
    ) {
        Ok(notifier) => Some(notifier),
        Err(NotifierError::Config(e)) => return Err(e.into()),
        Err(e @ NotifierError::Client(_)) => {
            tracing::error!(error = %e, "notifications are off");
            None
        }
    };
    let mut handles = vec![
        gauges.start(shutdown),
        reaper.start(shutdown),
        orphans.start(shutdown),
        rescuer.start(shutdown),
        pauses.start(shutdown),
    ];
    handles.extend(fleet.map(|f| f.start(shutdown)));
    handles.extend(schedule.map(|s| s.start(shutdown)));
    handles.extend(notifier.map(|n| n.start(shutdown)));
    Ok(handles)
}
