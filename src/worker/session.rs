//! One broker connection: topology, consumers, and the delivery loop.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::deliveries::handle_job_delivery;
use super::events::handle_event_delivery;
use super::Shared;
use crate::queue::{self, declare_topology, Publisher, QueueError};

/// Runs until shutdown (Ok) or until the broker connection fails (Err).
pub async fn run_session(shared: &Shared, shutdown: &CancellationToken) -> Result<(), QueueError> {
    let connection = queue::connect(&shared.settings.amqp_url, "secret-sync worker").await?;
    let setup = connection
        .create_channel()
        .await
        .map_err(QueueError::broker("opening a channel"))?;
    declare_topology(&setup, &shared.names).await?;
    let publisher = Arc::new(Publisher::new(&connection, shared.names.clone()).await?);

    let jobs_channel = connection
        .create_channel()
        .await
        .map_err(QueueError::broker("opening the jobs channel"))?;
    jobs_channel
        .basic_qos(
            shared.settings.worker.concurrency,
            BasicQosOptions::default(),
        )
        .await
        .map_err(QueueError::broker("setting the prefetch"))?;
    let events_channel = connection
        .create_channel()
        .await
        .map_err(QueueError::broker("opening the events channel"))?;
    events_channel
        .basic_qos(4, BasicQosOptions::default())
        .await
        .map_err(QueueError::broker("setting the events prefetch"))?;
    let tag = format!("secret-sync-{}", uuid::Uuid::new_v4());
    let mut jobs = jobs_channel
        .basic_consume(
            shared.names.jobs_queue().into(),
            format!("{tag}-jobs").into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(QueueError::broker("consuming the jobs queue"))?;
    let mut events = events_channel
        .basic_consume(
            shared.names.events_queue().into(),
            format!("{tag}-events").into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(QueueError::broker("consuming the events queue"))?;
    shared.broker_connected.store(true, Ordering::Relaxed);
    tracing::info!(queue = %shared.names.jobs_queue(), concurrency = shared.settings.worker.concurrency,
        "consuming jobs");

    let tracker = TaskTracker::new();
    let ended: Result<(), QueueError> = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            next = jobs.next() => match next {
                Some(Ok(delivery)) => {
                    let (shared, publisher) = (shared.clone(), publisher.clone());
                    tracker.spawn(async move { handle_job_delivery(&shared, &publisher, delivery).await });
                }
                Some(Err(source)) => break Err(QueueError::Broker { action: "receiving jobs".into(), source }),
                None => break Err(QueueError::ConsumerClosed("jobs")),
            },
            next = events.next() => match next {
                Some(Ok(delivery)) => {
                    let (shared, publisher) = (shared.clone(), publisher.clone());
                    tracker.spawn(async move { handle_event_delivery(&shared, &publisher, delivery).await });
                }
                Some(Err(source)) => break Err(QueueError::Broker { action: "receiving events".into(), source }),
                None => break Err(QueueError::ConsumerClosed("events")),
            },
        }
    };

    if ended.is_ok() {
        // Stop deliveries first; what was prefetched but not started goes
        // back to the queue when the channel closes.
        let _ = jobs_channel
            .basic_cancel(format!("{tag}-jobs").into(), BasicCancelOptions::default())
            .await;
        let _ = events_channel
            .basic_cancel(
                format!("{tag}-events").into(),
                BasicCancelOptions::default(),
            )
            .await;
    }
    tracker.close();
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
    // Closing hands every unacknowledged delivery back to RabbitMQ.
    let _ = connection.close(200, "worker stopping".into()).await;
    ended
}
