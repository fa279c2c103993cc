//! A broker connection with the topology declared, and the consumers and
//! publishers made from it.

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};

use super::headers::envelope_of;
use super::message::{decode_event, decode_job, MessageError, SecretChanged};
use super::{declare_topology, Headers, Names, Publisher, QueueError};
use crate::config::settings_redact_url as redact;
use crate::model::{Job, JobEnvelope};

/// One connection to RabbitMQ, named after the process role (shown in
/// RabbitMQ's UI), with the brief's topology declared on it.
///
/// No lapin auto-recovery: the worker's supervisor loop reconnects from
/// scratch instead, so no ack is ever sent on a channel that outlived its
/// connection (redelivered jobs are idempotent).
pub struct Broker {
    connection: Connection,
    names: Names,
}

impl Broker {
    pub async fn open(url: &str, names: Names, role: &str) -> Result<Broker, QueueError> {
        let props = ConnectionProperties::default().with_connection_name(role.to_string().into());
        let connection =
            Connection::connect(url, props)
                .await
                .map_err(|source| QueueError::Connect {
                    url: redact(url),
                    source,
                })?;
        let broker = Broker { connection, names };
        let setup = broker.channel("opening a channel").await?;
        declare_topology(&setup, &broker.names).await?;
        let _ = setup.close(200, "topology declared".into()).await;
        Ok(broker)
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    async fn channel(&self, action: &str) -> Result<Channel, QueueError> {
        self.connection
            .create_channel()
            .await
            .map_err(QueueError::broker(action))
    }

    /// A publisher with confirms on its own channel.
    pub async fn publisher(&self) -> Result<Publisher, QueueError> {
        Publisher::new(
            self.channel("opening a publish channel").await?,
            self.names.clone(),
        )
        .await
    }

    /// Consumes `queue` with at most `prefetch` unacknowledged deliveries.
    pub async fn consumer(&self, queue: &str, prefetch: u16) -> Result<Consumer, QueueError> {
        let channel = self.channel("opening a consumer channel").await?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(QueueError::broker("setting the prefetch"))?;
        let tag = format!("secret-sync-{}", uuid::Uuid::new_v4());
        let stream = channel
            .basic_consume(
                queue.into(),
                tag.clone().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(QueueError::broker(format!("consuming {queue}")))?;
        Ok(Consumer {
            channel,
            tag,
            stream,
        })
    }

    /// The job messages among the first `limit` of the dead-letter queue,
    /// with why they are there. Nothing is removed: the messages are held
    /// unacknowledged while browsing and handed back when the channel closes.
    pub async fn browse_dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, QueueError> {
        let channel = self
            .channel("opening a channel to browse dead letters")
            .await?;
        let queue = self.names.dead_queue();
        let mut found = Vec::new();
        for _ in 0..limit {
            let got = channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .map_err(QueueError::broker(format!("reading {queue}")))?;
            let Some(message) = got else { break };
            let incoming = Incoming {
                delivery: message.delivery,
            };
            // Poison messages have no job to rescue; they just stay listed.
            if let Ok((job, envelope)) = incoming.decode_job() {
                found.push(DeadJob {
                    job,
                    envelope,
                    reason: dead_reason(incoming.properties()),
                });
            }
        }
        let _ = channel.close(200, "browsed".into()).await;
        Ok(found)
    }

    /// Closing hands every unacknowledged delivery back to RabbitMQ.
    pub async fn close(self, reason: &str) {
        let _ = self.connection.close(200, reason.into()).await;
    }
}

/// A job message sitting in the dead-letter queue.
#[derive(Clone, Debug)]
pub struct DeadJob {
    pub job: Job,
    pub envelope: JobEnvelope,
    /// Why it was dead-lettered, in words.
    pub reason: String,
}

/// Our own reason header, else what RabbitMQ's `x-death` says.
fn dead_reason(props: &lapin::BasicProperties) -> String {
    use lapin::types::AMQPValue;
    let headers = props.headers().as_ref();
    let text = |v: &AMQPValue| match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    };
    if let Some(reason) = headers
        .and_then(|h| h.inner().get(Headers::DEAD_REASON))
        .and_then(text)
    {
        return reason;
    }
    let death = headers
        .and_then(|h| h.inner().get("x-death"))
        .and_then(|v| match v {
            AMQPValue::FieldArray(a) => a.as_slice().first().cloned(),
            _ => None,
        })
        .and_then(|v| match v {
            AMQPValue::FieldTable(t) => t.inner().get("reason").and_then(text),
            _ => None,
        });
    match death.as_deref() {
        Some("delivery_limit") => format!(
            "RabbitMQ dead-lettered it after {} deliveries (each ended without an answer: a worker crashed or gave it back)",
            super::DELIVERY_LIMIT
        ),
        Some(other) => format!("RabbitMQ dead-lettered it ({other})"),
        None => "it reached the dead-letter queue".into(),
    }
}

/// Deliveries from one queue.
pub struct Consumer {
    channel: Channel,
    tag: String,
    stream: lapin::Consumer,
}

impl Consumer {
    /// The next delivery; `None` once the consumer is closed.
    pub async fn next(&mut self) -> Option<Result<Incoming, QueueError>> {
        Some(
            self.stream
                .next()
                .await?
                .map(|delivery| Incoming { delivery })
                .map_err(QueueError::broker("receiving a delivery")),
        )
    }

    /// Stops deliveries; what was prefetched but not settled goes back to
    /// the queue when the connection closes.
    pub async fn cancel(&self) {
        let _ = self
            .channel
            .basic_cancel(self.tag.as_str().into(), BasicCancelOptions::default())
            .await;
    }
}

/// One delivery, to decode and then settle exactly once.
pub struct Incoming {
    delivery: Delivery,
}

impl Incoming {
    pub fn body(&self) -> &[u8] {
        &self.delivery.data
    }

    pub fn routing_key(&self) -> &str {
        self.delivery.routing_key.as_str()
    }

    pub(crate) fn properties(&self) -> &lapin::BasicProperties {
        &self.delivery.properties
    }

    /// The job and where it stands (attempt, deferrals, enqueue time).
    pub fn decode_job(&self) -> Result<(Job, JobEnvelope), MessageError> {
        let props = &self.delivery.properties;
        let message_id = props.message_id().as_ref().map(|id| id.as_str());
        let job = decode_job(&self.delivery.data, self.routing_key(), message_id)?;
        Ok((job, envelope_of(props)))
    }

    pub fn decode_event(&self) -> Result<SecretChanged, MessageError> {
        decode_event(&self.delivery.data)
    }

    pub async fn ack(&self) -> Result<(), QueueError> {
        self.delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(QueueError::broker("acknowledging a delivery"))
    }

    /// Hands the delivery back to the queue as it is (counts towards the
    /// quorum queue's delivery limit).
    pub async fn requeue(&self) -> Result<(), QueueError> {
        self.nack(true).await
    }

    /// Rejects without requeue: the quorum queue dead-letters it.
    pub async fn reject(&self) -> Result<(), QueueError> {
        self.nack(false).await
    }

    async fn nack(&self, requeue: bool) -> Result<(), QueueError> {
        self.delivery
            .acker
            .nack(BasicNackOptions {
                requeue,
                ..BasicNackOptions::default()
            })
            .await
            .map(|_| ())
            .map_err(QueueError::broker("returning a delivery"))
    }
}
