use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::headers::{with_header, Headers};
use super::topology::declare_delay_queue;
use super::{EventMessage, JobMessage, Names, QueueError};

/// Publishes with publisher confirms: a publish returns only once RabbitMQ
/// has taken responsibility for the message.
pub struct Publisher {
    channel: Channel,
    names: Names,
    declared_delays: Mutex<HashSet<String>>,
}

/// Where a job stands, carried in headers across redeliveries.
#[derive(Clone, Copy, Debug)]
pub struct JobEnvelope {
    pub attempt: u32,
    pub busy_count: u32,
    pub enqueued_at: DateTime<Utc>,
}

impl Publisher {
    pub async fn new(connection: &Connection, names: Names) -> Result<Self, QueueError> {
        let channel = connection
            .create_channel()
            .await
            .map_err(QueueError::broker("opening a publish channel"))?;
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

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Publishes a new job; assigns a job id when the message has none.
    pub async fn publish_job(&self, job: &JobMessage) -> Result<Uuid, QueueError> {
        let mut job = job.clone();
        let job_id = *job.job_id.get_or_insert_with(Uuid::new_v4);
        let envelope = JobEnvelope {
            attempt: 1,
            busy_count: 0,
            enqueued_at: Utc::now(),
        };
        self.publish_job_envelope(&job, envelope, None).await?;
        Ok(job_id)
    }

    /// Publishes `job` (which must carry its job id) again, after `delay`
    /// when given, through the delay queue for that delay.
    pub async fn publish_job_envelope(
        &self,
        job: &JobMessage,
        envelope: JobEnvelope,
        delay: Option<Duration>,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_vec(job)?;
        let mut headers = FieldTable::default();
        headers = with_header(
            headers,
            Headers::ATTEMPT,
            AMQPValue::LongLongInt(i64::from(envelope.attempt)),
        );
        headers = with_header(
            headers,
            Headers::BUSY_COUNT,
            AMQPValue::LongLongInt(i64::from(envelope.busy_count)),
        );
        headers = with_header(
            headers,
            Headers::ENQUEUED_AT_MICROS,
            AMQPValue::LongLongInt(envelope.enqueued_at.timestamp_micros()),
        );
        let mut props = json_properties().with_headers(headers);
        if let Some(id) = job.job_id {
            props = props.with_message_id(id.to_string().into());
        }
        match delay {
            None => {
                self.publish_confirmed(
                    &self.names.jobs_exchange(),
                    job.job_type.as_str(),
                    &body,
                    props,
                )
                .await
            }
            Some(delay) => {
                let queue = self.ensure_delay_queue(job, delay).await?;
                // The default exchange routes to the queue named by the key.
                self.publish_confirmed("", &queue, &body, props).await
            }
        }
    }

    async fn ensure_delay_queue(
        &self,
        job: &JobMessage,
        delay: Duration,
    ) -> Result<String, QueueError> {
        let name = self.names.delay_queue(job.job_type, delay);
        let mut declared = self.declared_delays.lock().await;
        if !declared.contains(&name) {
            declare_delay_queue(&self.channel, &self.names, job.job_type, delay).await?;
            declared.insert(name.clone());
        }
        Ok(name)
    }

    pub async fn publish_event(&self, event: &EventMessage) -> Result<(), QueueError> {
        let body = serde_json::to_vec(event)?;
        self.publish_confirmed(
            &self.names.events_exchange(),
            "secret.changed",
            &body,
            json_properties(),
        )
        .await
    }

    /// Sends an unusable message to `secret-sync.dead` with the reason in its
    /// headers (original properties and headers kept).
    pub async fn dead_letter(
        &self,
        body: &[u8],
        original: &BasicProperties,
        source_queue: &str,
        routing_key: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        let mut headers = original.headers().clone().unwrap_or_default();
        headers = with_header(
            headers,
            Headers::DEAD_REASON,
            AMQPValue::LongString(reason.into()),
        );
        headers = with_header(
            headers,
            Headers::DEAD_SOURCE,
            AMQPValue::LongString(source_queue.into()),
        );
        headers = with_header(
            headers,
            Headers::DEAD_ROUTING_KEY,
            AMQPValue::LongString(routing_key.into()),
        );
        headers = with_header(
            headers,
            Headers::DEAD_AT,
            AMQPValue::LongString(Utc::now().to_rfc3339().into()),
        );
        let props = original.clone().with_headers(headers).with_delivery_mode(2);
        self.publish_confirmed(&self.names.dead_exchange(), routing_key, body, props)
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
