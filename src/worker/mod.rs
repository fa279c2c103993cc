//! `secret-sync run`: consumes jobs and events until told to stop.
//!
//! A supervisor loop owns one broker session at a time; if the broker goes
//! away, in-flight jobs finish or are redelivered (they are idempotent) and
//! the session is rebuilt with backoff. Shutdown (SIGTERM/SIGINT, or the
//! token in tests) stops consuming, lets in-flight jobs finish within the
//! grace period, and hands the rest back to the broker.

mod deliveries;
mod events;
mod notify;
mod reconnect;
mod rescuer;
mod schedule;
mod session;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::http::Metrics;
use crate::jobs::{JobContext, Runner};
use crate::queue::{Names, Nodes};
use crate::store::{OrphanFate, Store};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Setup(#[from] crate::jobs::SetupError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
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
    /// The nodes of `AMQP_URL` and the one to try next.
    pub nodes: Nodes,
}

impl Shared {
    /// Builds the worker's dependencies: checks the key, migrates the database.
    pub async fn build(settings: Settings) -> Result<Shared, WorkerError> {
        // The key first: a worker without one must not touch the database.
        settings.require_encryption_key()?;
        crate::store::ensure_database(&settings.database_url).await?;
        let store = Store::for_settings(&settings, settings.database_pool_size)?;
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
            retry: crate::jobs::retry_policy(&w.retry),
            debounce: crate::model::Debounce {
                quiet: settings.sync_debounce,
                max_wait: settings.sync_debounce_max_wait,
            },
            worker_id: worker_id(),
            heartbeat_every: (w.stale_after / 4).max(Duration::from_millis(200)),
            lease_ttl: w.stale_after,
            abandon: CancellationToken::new(),
            before_run: Default::default(),
        };
        Ok(Shared {
            names: Names::new(&settings.queue_prefix),
            runner: Arc::new(runner),
            store,
            metrics,
            broker_connected: Arc::new(AtomicBool::new(false)),
            nodes: Nodes::parse(&settings.amqp_url),
            settings,
        })
    }
}

fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    format!("{host}:{}", std::process::id())
}

/// Runs the worker until `shutdown` is cancelled. Returns once in-flight
/// jobs have finished or the grace period ran out.
pub async fn run(shared: Shared, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let reaper = tokio::spawn(reap_stale_jobs(shared.clone(), shutdown.clone()));
    let rescuer = tokio::spawn(rescuer::rescue_dead_jobs(shared.clone(), shutdown.clone()));
    let gauges = tokio::spawn(refresh_store_gauges(shared.clone(), shutdown.clone()));
    let schedule = tokio::spawn(schedule::reconcile_on_schedule(
        shared.clone(),
        shutdown.clone(),
    ));
    let notifier = tokio::spawn(notify::dispatch_notifications(
        shared.clone(),
        shutdown.clone(),
    ));
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
    reaper.abort();
    rescuer.abort();
    gauges.abort();
    schedule.abort();
    notifier.abort();
    Ok(())
}

/// Keeps the gauges read from Postgres current (syncs by status, the
/// oldest pending job), and marks this worker seen for the overview's
/// list of workers. Every worker does it: the numbers are global, so
/// dashboards take `max` over workers.
async fn refresh_store_gauges(shared: Shared, shutdown: CancellationToken) {
    let mut tick = ticker(Duration::ZERO, shared.settings.worker.metrics_refresh);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = shared
            .store
            .mark_worker_seen(&shared.runner.worker_id)
            .await
        {
            tracing::debug!(error = %e, "could not mark this worker seen");
        }
        match shared.store.sync_status_counts().await {
            Ok(counts) => shared.metrics.set_sync_counts(&counts),
            Err(e) => tracing::debug!(error = %e, "could not count syncs for metrics"),
        }
        match shared.store.oldest_pending_job_age().await {
            Ok(age) => {
                shared.metrics.oldest_pending_seconds.set(age);
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not read the oldest pending job for metrics")
            }
        }
    }
}

/// Hands rows left `running` by dead workers back to `pending`.
async fn reap_stale_jobs(shared: Shared, shutdown: CancellationToken) {
    let stale_after = shared.settings.worker.stale_after;
    let every = (stale_after / 2).max(Duration::from_secs(1));
    let mut tick = ticker(every, every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match shared.store.reap_stale_jobs(stale_after).await {
            Ok(reaped) => {
                for job in reaped {
                    tracing::warn!(job_id = %job.job_id, sync_id = %job.sync_id,
                        "job's worker stopped mid-run; row set back to pending");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not reap stale jobs"),
        }
        republish_orphans(&shared, stale_after * ORPHAN_AFTER_STALE).await;
    }
}

/// A `pending` row untouched for this many `JOB_STALE_AFTER` is taken for
/// an orphan (see [`republish_orphans`]).
pub const ORPHAN_AFTER_STALE: u32 = 5;

/// Orphans claimed per round.
const ORPHANS_PER_ROUND: i64 = 500;

/// Publishes again the jobs whose rows stayed `pending` far longer than a
/// queued job waits: a failover of Postgres that lost the outcome of a job
/// RabbitMQ had already been told about (acknowledged) leaves such a row
/// with no message behind it; this way it still ends. A job whose message
/// is in fact still queued (a long backlog) runs once: the later copy
/// finds the row final and is skipped. One that cannot be published as it
/// was asked (its kind unknown to this version) is failed, saying so.
async fn republish_orphans(shared: &Shared, orphan_after: Duration) {
    let orphans = match shared
        .store
        .claim_orphaned_jobs(orphan_after, ORPHANS_PER_ROUND)
        .await
    {
        Ok(orphans) if orphans.is_empty() => return,
        Ok(orphans) => orphans,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for orphaned jobs");
            return;
        }
    };
    let mut republish = Vec::with_capacity(orphans.len());
    for orphan in orphans {
        match &orphan.fate {
            OrphanFate::Republish(kind) => republish.push((orphan.job_id, orphan.sync_id, *kind)),
            OrphanFate::Fail(message) => match shared.store.fail_orphan(&orphan, message).await {
                Ok(()) => tracing::warn!(job_id = %orphan.job_id, sync_id = %orphan.sync_id,
                    message = %message, "job stayed pending with no worker on it and cannot run as asked; failed it"),
                Err(e) => tracing::warn!(job_id = %orphan.job_id, error = %e,
                    "could not fail an orphaned job; it is claimed again later"),
            },
        }
    }
    if republish.is_empty() {
        return;
    }
    let broker = match shared
        .nodes
        .open(shared.names.clone(), "secret-sync reaper")
        .await
    {
        Ok(broker) => broker,
        Err(e) => {
            tracing::warn!(error = %e, count = republish.len(),
                "could not publish orphaned jobs again; they are claimed again later");
            return;
        }
    };
    match broker.publisher().await {
        Ok(publisher) => {
            for (id, sync_id, kind) in republish {
                let job = crate::model::Job {
                    id,
                    sync_id,
                    kind,
                    trigger: Some("republished".into()),
                    actor: None,
                };
                let envelope = crate::model::JobEnvelope::first(chrono::Utc::now());
                match publisher.publish_job(&job, envelope, None).await {
                    Ok(()) => tracing::warn!(job_id = %job.id, sync_id = %job.sync_id,
                        "job stayed pending with no worker on it; published it again"),
                    Err(e) => tracing::warn!(job_id = %job.id, error = %e,
                        "could not publish an orphaned job again; it is claimed again later"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not open a publisher for orphaned jobs"),
    }
    broker.close("orphans published").await;
}

/// A periodic ticker (not a retry): first tick after `first`, then every
/// `period`; a round that overruns delays the next tick instead of causing
/// a burst of catch-up ticks.
fn ticker(first: Duration, period: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}
