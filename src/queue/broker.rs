//! A broker connection with the topology declared, and the consumers and
//! publishers made from it.

use futures::StreamExt;
use lapin::message::Delivery;
use std::time::Duration;

use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};

use super::headers::envelope_of;
use super::message::{decode_event, decode_job, MessageError, SecretChanged};
use super::{declare_topology, Names, Nodes, Publisher, QueueError};
use crate::model::{Job, JobEnvelope, JobType};

/// One connection to RabbitMQ, named after the process role (shown in
/// RabbitMQ's UI), with the brief's topology declared on it.
///
/// No lapin auto-recovery: the worker's supervisor loop reconnects from
/// scratch instead, so no ack is ever sent on a channel that outlived its
/// connection (redelivered jobs are idempotent).
pub struct Broker {
    connection: Connection,
    names: Names,
    /// `host:port` of the node this connection is on.
    node: String,
    /// Its place in `AMQP_URL`'s list.
    node_index: usize,
}

impl Broker {
    /// A connection to one of `url`'s nodes (a list, see [`Nodes`]),
    /// starting at a random one. A long-lived process keeps one [`Nodes`]
    /// instead, so that it moves on from a node it lost.
    pub async fn open(url: &str, names: Names, role: &str) -> Result<Broker, QueueError> {
        Nodes::parse(url).open(names, role).await
    }

    /// `host:port` of the node this connection is on.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The node's place in `AMQP_URL` (for [`Nodes::lost`]).
    pub fn node_index(&self) -> usize {
        self.node_index
    }

    pub(super) async fn open_node(
        url: &str,
        names: Names,
        role: &str,
        node_index: usize,
    ) -> Result<Broker, QueueError> {
        if url.starts_with("amqps://") {
            // lapin is built without TLS here: refuse rather than connect in clear.
            return Err(QueueError::TlsUnsupported {
                target: super::connect_error::describe_target(url),
            });
        }
        let props = ConnectionProperties::default().with_connection_name(role.to_string().into());
        let connection = Connection::connect(url, props)
            .await
            .map_err(|source| super::connect_error::connect_failed(url, source))?;
        let broker = Broker {
            connection,
            names,
            node: super::nodes::node_label(url),
            node_index,
        };
        let setup = broker.channel("opening a channel").await?;
        declare_topology(&setup, &broker.names).await?;
        let _ = setup.close(200, "topology declared".into()).await;
        Ok(broker)
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    pub(super) async fn channel(&self, action: &str) -> Result<Channel, QueueError> {
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

    /// Ready messages in the jobs, events, dead and (summed) delay queues;
    /// `delays` are the delays the worker may use.
    pub async fn queue_depths(&self, delays: &[Duration]) -> Result<QueueDepths, QueueError> {
        let channel = self.channel("opening a channel to count messages").await?;
        let mut depths = QueueDepths {
            jobs: ready_messages(&channel, &self.names.jobs_queue()).await?,
            events: ready_messages(&channel, &self.names.events_queue()).await?,
            dead: ready_messages(&channel, &self.names.dead_queue()).await?,
            delay: 0,
        };
        for job_type in JobType::ALL {
            for delay in delays {
                // Declared (same arguments as the publisher's) rather than
                // probed passively: a 404 would close the channel and log
                // an error each time for queues no job has used yet.
                depths.delay +=
                    super::topology::delay_queue_depth(&channel, &self.names, job_type, *delay)
                        .await?;
            }
        }
        let _ = channel.close(200, "counted".into()).await;
        Ok(depths)
    }

    /// Closing hands every unacknowledged delivery back to RabbitMQ.
    pub async fn close(self, reason: &str) {
        let _ = self.connection.close(200, reason.into()).await;
    }
}

/// Ready messages in `queue` (passive declare: fails if it does not exist).
async fn ready_messages(channel: &Channel, queue: &str) -> Result<u32, QueueError> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map(|q| q.message_count())
        .map_err(QueueError::broker(format!("inspecting {queue}")))
}

/// Ready messages per queue (see [`Broker::queue_depths`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepths {
    pub jobs: u32,
    pub events: u32,
    pub delay: u32,
    pub dead: u32,
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
