//! One broker connection: topology, consumers, and the delivery loop.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::deliveries::handle_job_delivery;
use super::events::handle_event_delivery;
use super::Shared;
use crate::queue::{Broker, QueueError};

/// Secret-change events prefetched at once (each is a quick fan-out).
const EVENTS_PREFETCH: u16 = 4;

/// Runs until shutdown (Ok) or until the broker connection fails (Err).
/// `consumed` is set once the consumers are up (the session was healthy).
pub async fn run_session(
    shared: &Shared,
    shutdown: &CancellationToken,
    consumed: &mut bool,
) -> Result<(), QueueError> {
    let broker = Broker::open(
        &shared.settings.amqp_url,
        shared.names.clone(),
        "secret-sync worker",
    )
    .await?;
    let publisher = Arc::new(broker.publisher().await?);
    let concurrency = shared.settings.worker.concurrency;
    let mut jobs = broker
        .consumer(&shared.names.jobs_queue(), concurrency)
        .await?;
    let mut events = broker
        .consumer(&shared.names.events_queue(), EVENTS_PREFETCH)
        .await?;
    shared.broker_connected.store(true, Ordering::Relaxed);
    *consumed = true;
    tracing::info!(queue = %shared.names.jobs_queue(), concurrency, "consuming jobs");

    let tracker = TaskTracker::new();
    let ended: Result<(), QueueError> = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
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
                "grace period over; unfinished jobs go back to the queue and run again"
            );
        }
        shared.broker_connected.store(false, Ordering::Relaxed);
    }
    broker.close("worker stopping").await;
    ended
}
