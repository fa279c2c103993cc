//! One job delivery: parse, run, then publish-again or acknowledge.

use std::time::Instant;

use chrono::Utc;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use uuid::Uuid;

use super::Shared;
use crate::jobs::{Disposition, JobDelivery};
use crate::queue::{attempt_of, busy_count_of, enqueued_at_of, JobEnvelope, JobMessage, Publisher};

/// Namespace for job ids derived from a non-UUID AMQP message_id, so a
/// redelivered message keeps its job id.
const MESSAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_2c8e_5d1a_4c3b_9e7f_0a2d_4b6c_8e01);

pub async fn handle_job_delivery(shared: &Shared, publisher: &Publisher, delivery: Delivery) {
    let started = Instant::now();
    let props = &delivery.properties;
    let routing_key = delivery.routing_key.as_str().to_string();
    let mut message = match JobMessage::parse(&delivery.data, &routing_key) {
        Ok(m) => m,
        Err(e) => {
            // Never log the body: it is not ours to trust, and could hold anything.
            tracing::error!(routing_key, reason = %e, bytes = delivery.data.len(),
                "poison job message; sending it to the dead-letter queue");
            let queue = shared.names.jobs_queue();
            dead_letter(shared, publisher, &delivery, &queue, &e.to_string()).await;
            return;
        }
    };
    let job_id = message
        .job_id
        .or_else(|| {
            props.message_id().as_ref().map(|id| {
                Uuid::parse_str(id.as_str())
                    .unwrap_or_else(|_| Uuid::new_v5(&MESSAGE_ID_NAMESPACE, id.as_str().as_bytes()))
            })
        })
        .unwrap_or_else(Uuid::new_v4);
    message.job_id = Some(job_id);
    let job = JobDelivery {
        job_id,
        attempt: attempt_of(props),
        busy_count: busy_count_of(props),
        enqueued_at: enqueued_at_of(props).unwrap_or_else(Utc::now),
        message,
    };
    shared.metrics.in_flight.inc();
    let disposition = shared.runner.handle(&job).await;
    shared.metrics.in_flight.dec();

    let envelope = |attempt, busy_count| JobEnvelope {
        attempt,
        busy_count,
        enqueued_at: job.enqueued_at,
    };
    let (outcome, republished) = match &disposition {
        Disposition::Done(status) => (status.as_str(), Ok(())),
        Disposition::Retry { attempt, delay } => (
            "retry",
            publisher
                .publish_job_envelope(&job.message, envelope(*attempt, 0), Some(*delay))
                .await,
        ),
        Disposition::Later { delay } => (
            "delayed",
            publisher
                .publish_job_envelope(
                    &job.message,
                    envelope(job.attempt, job.busy_count + 1),
                    Some(*delay),
                )
                .await,
        ),
    };
    shared.metrics.record_job(
        job.message.job_type.as_str(),
        outcome,
        started.elapsed().as_secs_f64(),
    );
    match republished {
        Ok(()) => ack(&delivery, job_id).await,
        Err(e) => {
            // Could not hand the job back with a delay: return it to the
            // queue as it is (the quorum queue's delivery limit bounds this).
            tracing::error!(%job_id, error = %e, "could not republish the job; requeueing it");
            let _ = delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await;
        }
    }
}

async fn ack(delivery: &Delivery, job_id: Uuid) {
    if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
        // The status is written; the redelivery will be recognised as done.
        tracing::warn!(%job_id, error = %e, "could not acknowledge the job; it will be redelivered and skipped");
    }
}

/// Publishes the delivery to `secret-sync.dead` with `reason`, then acks it.
/// If that publish fails, the message is rejected without requeue, which
/// the quorum queue also dead-letters.
pub async fn dead_letter(
    shared: &Shared,
    publisher: &Publisher,
    delivery: &Delivery,
    source_queue: &str,
    reason: &str,
) {
    shared.metrics.dead_lettered.inc();
    let published = publisher
        .dead_letter(
            &delivery.data,
            &delivery.properties,
            source_queue,
            delivery.routing_key.as_str(),
            reason,
        )
        .await;
    let result = match published {
        Ok(()) => delivery.acker.ack(BasicAckOptions::default()).await,
        Err(e) => {
            tracing::error!(error = %e, "could not publish to the dead-letter queue; rejecting the message");
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: false,
                    ..BasicNackOptions::default()
                })
                .await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not settle a dead-lettered message");
    }
}
