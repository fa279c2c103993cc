//! One broker connection: topology, consumers, and the delivery loop.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::deliveries::handle_job_delivery;
use super::events::handle_event_delivery;
use super::Shared;
use crate::queue::{Broker, QueueError};

/// Secret-change events handled at once. Each is a quick fan-out (a few
/// short statements, bounded by the connection pool), so a burst drains
/// fast and lands in the sync jobs already queued.
const EVENTS_PREFETCH: u16 = 32;

/// After the grace period, how long stopped jobs get to hand themselves back.
const HAND_BACK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sets the queue gauges; a slow or failing broker only skips a refresh.
async fn refresh_queue_depths(shared: &Shared, broker: &Broker) {
    match tokio::time::timeout(Duration::from_secs(5), broker.queue_depths()).await {
        Ok(Ok(d)) => {
            let m = &shared.metrics;
            m.set_queue_depth("jobs", i64::from(d.jobs));
            m.set_queue_depth("events", i64::from(d.events));
            m.set_queue_depth("delay", i64::from(d.delay));
            m.set_queue_depth("dead", i64::from(d.dead));
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "could not count queued messages for metrics"),
        Err(_) => tracing::debug!("counting queued messages for metrics timed out"),
    }
}

/// Runs until shutdown (Ok) or until the broker connection fails (Err).
/// `consumed` is set once the consumers are up (the session was healthy).
pub async fn run_session(
    shared: &Shared,
    shutdown: &CancellationToken,
    consumed: &mut bool,
) -> Result<(), QueueError> {
    // The process's connection (the first node of AMQP_URL that answers,
    // starting after the last one lost), shared with the maintenance loops.
    let broker = tokio::select! {
        broker = shared.link.broker(SESSION_CONNECT_WAIT) => broker?,
        () = shutdown.cancelled() => return Ok(()),
    };
    let ended = consume(shared, shutdown, consumed, broker.clone()).await;
    shared.metrics.set_broker_node(None);
    if ended.is_err() {
        // Lost (or never got going): the next session opens a new
        // connection, starting at the next node.
        shared.link.lost(&broker);
    }
    ended
}

/// How long a session waits for a connection attempt in flight (each node
/// of `AMQP_URL` gets `NODE_CONNECT_TIMEOUT`, twice over with the topology).
const SESSION_CONNECT_WAIT: Duration = Duration::from_secs(300);

async fn consume(
    shared: &Shared,
    shutdown: &CancellationToken,
    consumed: &mut bool,
    broker: Arc<Broker>,
) -> Result<(), QueueError> {
    let publisher = Arc::new(broker.publisher().await?);
    let concurrency = shared.settings.worker.concurrency;
    let mut jobs = broker
        .consumer(&shared.names.jobs_queue(), concurrency)
        .await?;
    let mut events = broker
        .consumer(&shared.names.events_queue(), EVENTS_PREFETCH)
        .await?;
    shared.broker_connected.store(true, Ordering::Relaxed);
    shared.metrics.set_broker_node(Some(broker.node()));
    *consumed = true;
    tracing::info!(queue = %shared.names.jobs_queue(), concurrency, node = %broker.node(), "consuming jobs");

    let tracker = TaskTracker::new();
    let mut depth_tick = tokio::time::interval(shared.settings.worker.metrics_refresh);
    let ended: Result<(), QueueError> = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            _ = depth_tick.tick() => refresh_queue_depths(shared, &broker).await,
            next = jobs.next() => match next {
                Some(Ok(incoming)) => {
                    let (shared, publisher) = (shared.clone(), publisher.clone());
                    tracker.spawn(async move { handle_job_delivery(&shared, &publisher, incoming).await });
                }
                Some(Err(e)) => break Err(e),
                None => break Err(QueueError::ConsumerClosed("jobs")),
            },
            next = events.next() => match next {
                Some(Ok(incoming)) => {
                    let (shared, publisher) = (shared.clone(), publisher.clone());
                    tracker.spawn(async move { handle_event_delivery(&shared, &publisher, incoming).await });
                }
                Some(Err(e)) => break Err(e),
                None => break Err(QueueError::ConsumerClosed("events")),
            },
        }
    };

    tracker.close();
    if ended.is_err() {
        // The connection is gone: say so at once (`/readyz`), and do not
        // wait for in-flight jobs. Their deliveries cannot be settled on a
        // dead connection (the broker redelivers them; a finished job is
        // recognised and acknowledged), and a settlement can wait on the
        // dead connection for good, which would hold up the reconnect.
        shared.broker_connected.store(false, Ordering::Relaxed);
        if !tracker.is_empty() {
            tracing::warn!(
                in_flight = tracker.len(),
                "broker connection lost; in-flight jobs finish in the background and are redelivered"
            );
        }
    } else {
        // Shutdown: stop deliveries first; what was prefetched but not
        // started goes back to the queue when the connection closes.
        jobs.cancel().await;
        events.cancel().await;
        let grace = shared.settings.worker.shutdown_grace;
        let in_flight = tracker.len();
        if in_flight > 0 {
            tracing::info!(
                in_flight,
                grace_ms = grace.as_millis() as u64,
                "waiting for in-flight jobs"
            );
        }
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                unfinished = tracker.len(),
                "grace period over; handing unfinished jobs back"
            );
            // Stopping for good: jobs still running stop, release their
            // sync's lease and are published again, so another worker can
            // run them at once instead of after the lease expires.
            shared.runner.abandon.cancel();
            if tokio::time::timeout(HAND_BACK_WAIT, tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    unfinished = tracker.len(),
                    "some jobs could not be handed back; the broker redelivers them once their lease expires"
                );
            }
        }
        shared.broker_connected.store(false, Ordering::Relaxed);
        // Closed while the consumers' channels are still open, so they end
        // with the connection (hands back what was prefetched) instead of
        // closing in the background against a closing connection.
        shared.link.close("worker stopping").await;
    }
    ended
}
