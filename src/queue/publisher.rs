use std::time::Duration;

use chrono::Utc;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

use super::broker::Incoming;
use super::headers::{wait_left_at, with_header, Headers};
use super::message::{encode_event, encode_job, SecretChanged};
use super::topology::{next_step, WAIT_STEPS, WAIT_STEP_HEADER};
use super::{Names, QueueError};
use crate::model::{Job, JobEnvelope};

/// Publishes with publisher confirms: a publish returns only once RabbitMQ
/// has taken responsibility for the message.
pub struct Publisher {
    channel: Channel,
    names: Names,
}

impl Publisher {
    pub(super) async fn new(channel: Channel, names: Names) -> Result<Self, QueueError> {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(QueueError::broker("enabling publisher confirms"))?;
        Ok(Publisher { channel, names })
    }

    /// Publishes `job` to the jobs exchange at once, or after `delay`
    /// through the wait ladder (holding no worker slot): a delay is waited
    /// out to within 125 ms, and at least the smallest step (250 ms).
    pub async fn publish_job(
        &self,
        job: &Job,
        envelope: JobEnvelope,
        delay: Option<Duration>,
    ) -> Result<(), QueueError> {
        let body = encode_job(job)?;
        let mut headers = FieldTable::default();
        headers = with_header(
            headers,
            Headers::ATTEMPT,
            AMQPValue::LongLongInt(i64::from(envelope.attempt)),
        );
        headers = with_header(
            headers,
            Headers::BUSY_COUNT,
            AMQPValue::LongLongInt(i64::from(envelope.deferrals)),
        );
        headers = with_header(
            headers,
            Headers::ENQUEUED_AT_MICROS,
            AMQPValue::LongLongInt(envelope.enqueued_at.timestamp_micros()),
        );
        if let Some(trace) = envelope.trace {
            // Retries and deferrals stay in the enqueuer's trace.
            headers = with_header(
                headers,
                Headers::TRACEPARENT,
                AMQPValue::LongString(trace.to_string().into()),
            );
        }
        let delay = delay.filter(|d| !d.is_zero());
        if let Some(delay) = delay {
            let due_at = chrono::Duration::from_std(delay)
                .ok()
                .and_then(|d| Utc::now().checked_add_signed(d))
                .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
            headers = with_header(
                headers,
                Headers::DUE_AT_MICROS,
                AMQPValue::LongLongInt(due_at.timestamp_micros()),
            );
        }
        let props = json_properties()
            .with_headers(headers)
            .with_message_id(job.id.to_string().into());
        let job_type = job.job_type().as_str();
        match delay {
            None => {
                let exchange = self.names.jobs_exchange();
                self.publish_confirmed(&exchange, job_type, &body, props, false)
                    .await
            }
            // A delay shorter than the smallest step waits that step.
            Some(delay) => {
                let step = next_step(delay).unwrap_or(WAIT_STEPS[0]);
                self.publish_wait(job_type, &body, props, step).await
            }
        }
    }

    /// Puts a job delivery that is not due yet (`remaining` left, see
    /// [`Incoming::wait_left`]) back on the wait ladder for its next step:
    /// the same body, properties and headers (message id, due time), under
    /// the same routing key. Returns once RabbitMQ has confirmed it; the
    /// caller then acknowledges the delivery, so nothing is lost between.
    pub async fn hold(&self, incoming: &Incoming, remaining: Duration) -> Result<(), QueueError> {
        let step = next_step(remaining).unwrap_or(WAIT_STEPS[0]);
        let props = incoming.properties().clone().with_delivery_mode(2);
        self.publish_wait(incoming.routing_key(), incoming.body(), props, step)
            .await
    }

    /// Publishes to the wait queue of `step` (through the wait exchange,
    /// which routes on the step header); the queue's TTL then hands the
    /// message back to the jobs exchange under `routing_key`.
    async fn publish_wait(
        &self,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        step: Duration,
    ) -> Result<(), QueueError> {
        let headers = with_header(
            props.headers().clone().unwrap_or_default(),
            WAIT_STEP_HEADER,
            AMQPValue::LongString(step.as_millis().to_string().into()),
        );
        // Mandatory: were the step's queue missing, the message would come
        // back unroutable rather than vanish.
        self.publish_confirmed(
            &self.names.wait_exchange(),
            routing_key,
            body,
            props.with_headers(headers),
            true,
        )
        .await
    }

    /// Publishes a secret-change event (operators, tests and the demo).
    pub async fn publish_event(&self, event: &SecretChanged) -> Result<(), QueueError> {
        let body = encode_event(event)?;
        self.publish_confirmed(
            &self.names.events_exchange(),
            "secret.changed",
            &body,
            json_properties(),
            false,
        )
        .await
    }

    /// Sends an unusable delivery to `secret-sync.dead` with the reason in
    /// its headers (original properties and headers kept).
    pub async fn dead_letter(
        &self,
        incoming: &Incoming,
        source_queue: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        let original = incoming.properties();
        let routing_key = incoming.routing_key();
        let mut headers = original.headers().clone().unwrap_or_default();
        for (name, value) in [
            (Headers::DEAD_REASON, reason.to_string()),
            (Headers::DEAD_SOURCE, source_queue.to_string()),
            (Headers::DEAD_ROUTING_KEY, routing_key.to_string()),
            (Headers::DEAD_AT, Utc::now().to_rfc3339()),
        ] {
            headers = with_header(headers, name, AMQPValue::LongString(value.into()));
        }
        let props = original.clone().with_headers(headers).with_delivery_mode(2);
        self.publish_confirmed(
            &self.names.dead_exchange(),
            routing_key,
            incoming.body(),
            props,
            false,
        )
        .await
    }

    async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        mandatory: bool,
    ) -> Result<(), QueueError> {
        let target = if exchange.is_empty() {
            routing_key
        } else {
            exchange
        };
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory,
                    ..BasicPublishOptions::default()
                },
                body,
                props,
            )
            .await
            .map_err(QueueError::broker(format!("publishing to {target}")))?
            .await
            .map_err(QueueError::broker(format!(
                "confirming publish to {target}"
            )))?;
        if confirm.is_nack() {
            return Err(QueueError::NotConfirmed(target.to_string()));
        }
        if confirm.take_message().is_some() {
            // Confirmed, but returned: no queue took it.
            return Err(QueueError::NotConfirmed(format!(
                "{target} (unroutable: no queue bound for it; was a queue deleted?)"
            )));
        }
        Ok(())
    }
}

impl Incoming {
    /// How long this job delivery still has to wait before it is due: a
    /// delayed job comes back from each step of the wait ladder, and waits
    /// out the next one ([`Publisher::hold`]) while this is `Some`.
    pub fn wait_left(&self) -> Option<Duration> {
        wait_left_at(self.properties(), Utc::now())
    }
}

fn json_properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_timestamp(u64::try_from(Utc::now().timestamp()).unwrap_or(0))
}
