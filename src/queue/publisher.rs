use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use tokio::sync::Mutex;

use super::broker::Incoming;
use super::headers::{with_header, Headers};
use super::message::{encode_event, encode_job, SecretChanged};
use super::topology::declare_delay_queue;
use super::{Names, QueueError};
use crate::model::{Job, JobEnvelope};

/// Publishes with publisher confirms: a publish returns only once RabbitMQ
/// has taken responsibility for the message.
pub struct Publisher {
    channel: Channel,
    names: Names,
    declared_delays: Mutex<HashSet<String>>,
}

impl Publisher {
    pub(super) async fn new(channel: Channel, names: Names) -> Result<Self, QueueError> {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(QueueError::broker("enabling publisher confirms"))?;
        Ok(Publisher {
            channel,
            names,
            declared_delays: Mutex::new(HashSet::new()),
        })
    }

    /// Publishes `job` to the jobs exchange at once, or after `delay`
    /// through the delay queue for that delay (holding no worker slot).
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
        let props = json_properties()
            .with_headers(headers)
            .with_message_id(job.id.to_string().into());
        let job_type = job.job_type();
        match delay {
            None => {
                self.publish_confirmed(&self.names.jobs_exchange(), job_type.as_str(), &body, props)
                    .await
            }
            Some(delay) => {
                let queue = self.names.delay_queue(job_type, delay);
                self.ensure_delay_queue(&queue, job, delay).await?;
                // The default exchange routes to the queue named by the key.
                self.publish_confirmed("", &queue, &body, props).await
            }
        }
    }

    async fn ensure_delay_queue(
        &self,
        name: &str,
        job: &Job,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let mut declared = self.declared_delays.lock().await;
        if !declared.contains(name) {
            declare_delay_queue(&self.channel, &self.names, job.job_type(), delay).await?;
            declared.insert(name.to_string());
        }
        Ok(())
    }

    /// Publishes a secret-change event (operators, tests and the demo).
    pub async fn publish_event(&self, event: &SecretChanged) -> Result<(), QueueError> {
        let body = encode_event(event)?;
        self.publish_confirmed(
            &self.names.events_exchange(),
            "secret.changed",
            &body,
            json_properties(),
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
        )
        .await
    }

    async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
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
                BasicPublishOptions::default(),
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
        Ok(())
    }
}

fn json_properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_timestamp(u64::try_from(Utc::now().timestamp()).unwrap_or(0))
}
