//! One job delivery: decode, run, then publish-again or acknowledge.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures::FutureExt;

use super::Shared;
use crate::engine::Disposition;
use crate::model::JobEnvelope;
use crate::queue::{Incoming, Publisher};

pub async fn handle_job_delivery(shared: &Shared, publisher: &Publisher, incoming: Incoming) {
    if let Some(left) = incoming.wait_left() {
        // Back from a step of the wait ladder, not due yet: on to the next
        // step, before anything else (no decoding, no database).
        hold(publisher, &incoming, left).await;
        return;
    }
    let started = Instant::now();
    let (job, envelope) = match incoming.decode_job() {
        Ok(decoded) => decoded,
        Err(e) => {
            // Never log the body: it is not ours to trust, and could hold anything.
            tracing::error!(routing_key = incoming.routing_key(), reason = %e, bytes = incoming.body().len(),
                "poison job message; sending it to the dead-letter queue");
            let queue = shared.names.jobs_queue();
            dead_letter(shared, publisher, &incoming, &queue, &e.to_string()).await;
            return;
        }
    };
    let disposition = {
        let _in_flight = InFlight::enter(shared);
        // A panic inside a job must not leave its delivery unsettled or its
        // rows `running`: it fails the job, and the worker goes on.
        match AssertUnwindSafe(shared.runner.handle(&job, &envelope))
            .catch_unwind()
            .await
        {
            Ok(disposition) => disposition,
            Err(panic) => {
                let what = panic_message(panic.as_ref());
                tracing::error!(job_id = %job.id, sync_id = %job.sync_id, panic = %what,
                    "job panicked; recording it failed");
                let message = format!(
                    "Failed: internal error ({what}); this is a bug in secret-sync, please report it with the job id"
                );
                shared.runner.fail(&job, &envelope, &message).await
            }
        }
    };

    let (outcome, republished) = match &disposition {
        Disposition::Done(status) => (status.as_str(), Ok(())),
        Disposition::Retry { attempt, delay } => {
            let next = JobEnvelope {
                attempt: *attempt,
                deferrals: 0,
                ..envelope
            };
            (
                "retry",
                publisher.publish_job(&job, next, Some(*delay)).await,
            )
        }
        Disposition::Later { delay } => {
            let next = JobEnvelope {
                deferrals: envelope.deferrals + 1,
                ..envelope
            };
            (
                "delayed",
                publisher.publish_job(&job, next, Some(*delay)).await,
            )
        }
        Disposition::DeadLetter { reason } => {
            let queue = shared.names.jobs_queue();
            dead_letter(shared, publisher, &incoming, &queue, reason).await;
            shared.metrics.record_job(
                job.job_type().as_str(),
                "dead-lettered",
                started.elapsed().as_secs_f64(),
            );
            return;
        }
    };
    shared.metrics.record_job(
        job.job_type().as_str(),
        outcome,
        started.elapsed().as_secs_f64(),
    );
    shared
        .metrics
        .set_write_limits(&shared.runner.ctx.humanitec.write_limits());
    let settled = match republished {
        Ok(()) => incoming.ack().await,
        Err(e) => {
            // Could not hand the job back with a delay: return it to the
            // queue as it is (the quorum queue's delivery limit bounds this).
            tracing::error!(job_id = %job.id, error = %e, "could not republish the job; requeueing it");
            incoming.requeue().await
        }
    };
    if let Err(e) = settled {
        // The status is written; a redelivery is recognised as done.
        tracing::warn!(job_id = %job.id, error = %e, "could not settle the delivery; it will be redelivered and skipped");
    }
}

/// Puts a delayed job that is not due yet back on the wait ladder: acked
/// once the new message is confirmed, so nothing is lost in between. If it
/// cannot be published, the delivery goes back to the jobs queue as it is
/// (the quorum queue's delivery limit bounds this).
async fn hold(publisher: &Publisher, incoming: &Incoming, left: std::time::Duration) {
    let settled = match publisher.hold(incoming, left).await {
        Ok(()) => incoming.ack().await,
        Err(e) => {
            tracing::error!(routing_key = incoming.routing_key(), error = %e,
                "could not put a delayed job back to wait; requeueing it");
            incoming.requeue().await
        }
    };
    if let Err(e) = settled {
        // Redelivered, it waits again (its due time is in its headers).
        tracing::warn!(error = %e, "could not settle a delayed job's delivery");
    }
}

/// Counts a job in the in-flight gauge for as long as it lives, panics included.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        shared.metrics.in_flight.inc();
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
    }
}

/// The text of a panic payload (`panic!` with a literal or a format).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into());
    crate::model::cap_message(&text).chars().take(200).collect()
}

/// Publishes the delivery to `secret-sync.dead` with `reason`, then acks it.
/// If that publish fails, the message is rejected without requeue, which
/// the quorum queue also dead-letters.
pub async fn dead_letter(
    shared: &Shared,
    publisher: &Publisher,
    incoming: &Incoming,
    source_queue: &str,
    reason: &str,
) {
    shared.metrics.dead_lettered.inc();
    let result = match publisher.dead_letter(incoming, source_queue, reason).await {
        Ok(()) => incoming.ack().await,
        Err(e) => {
            tracing::error!(error = %e, "could not publish to the dead-letter queue; rejecting the message");
            incoming.reject().await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not settle a dead-lettered message");
    }
}
