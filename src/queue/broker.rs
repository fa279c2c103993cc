//! A broker connection with the topology declared, and the consumers and
//! publishers made from it.

use futures::StreamExt;
use lapin::message::Delivery;
use std::time::Duration;

use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::tcp::{AMQPUriTcpExt, AsyncTcpStream, RustlsConnector, TLSConfig};
use lapin::types::FieldTable;
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Channel, Connection, ConnectionProperties};
use std::os::fd::AsFd;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use super::headers::envelope_of;
use super::message::{decode_event, decode_job, MessageError, SecretChanged};
use super::{
    declare_topology, BrokerAddress, Names, Nodes, Publisher, QueueError, NODE_CONNECT_TIMEOUT,
};
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
    /// `host:port` of the node this connection is on.
    node: String,
    /// Its place in `AMQP_URL`'s list.
    node_index: usize,
}

/// Opens the AMQP connection to one node, giving up after `limit`.
///
/// lapin drives the handshake on a thread of its own that does not end when
/// the caller stops waiting: a node that accepts TCP but never answers the
/// handshake (an overloaded RabbitMQ does exactly that) would keep every
/// abandoned attempt's socket open. So the socket is kept at hand and shut
/// down on timeout, which ends lapin's attempt and closes it.
async fn connect_within(
    url: &str,
    ca: Option<&Arc<rustls::RootCertStore>>,
    props: ConnectionProperties,
    limit: Duration,
) -> Result<(Connection, Socket), QueueError> {
    let uri = AMQPUri::from_str(url).map_err(|cause| QueueError::Connect {
        target: super::connect_error::describe_target(url),
        cause: format!("AMQP_URL is not a valid AMQP URL ({cause})"),
        hint: "write it as amqp://user:password@host:5672/vhost (the vhost `/` is %2f)",
    })?;
    // amqps://: the certificate must chain to AMQP_CA_FILE's CAs (or the
    // public ones) and name the host of the URL.
    let tls = match uri.scheme {
        AMQPScheme::AMQP => None,
        AMQPScheme::AMQPS => {
            let roots = ca
                .cloned()
                .unwrap_or_else(|| Arc::new(crate::tls::public_roots()));
            let config =
                crate::tls::client_config(&crate::tls::Verify::Full(roots)).map_err(|e| {
                    QueueError::Connect {
                        target: super::connect_error::describe_target(url),
                        cause: format!("TLS setup failed ({e})"),
                        hint: "check AMQP_CA_FILE",
                    }
                })?;
            Some(RustlsConnector::from(config))
        }
    };
    let runtime = lapin::runtime::default_runtime()
        .map_err(|source| super::connect_error::connect_failed(url, source))?;
    let socket = Socket::default();
    let kept = socket.0.clone();
    let connect = Connection::connector(
        uri,
        runtime,
        async move |mut uri, runtime| {
            // TCP first, kept at hand; then the TLS handshake over it.
            let host = uri.authority.host.clone();
            uri.scheme = AMQPScheme::AMQP;
            let stream = uri
                .connect_with_config_async(TLSConfig::default(), &runtime)
                .await?;
            if let AsyncTcpStream::Plain(plain) = &stream {
                if let Ok(fd) = plain.get_ref().as_fd().try_clone_to_owned() {
                    *lock(&kept) = Some(std::net::TcpStream::from(fd));
                }
            }
            match &tls {
                Some(connector) => Ok(stream.into_rustls(connector, &host).await?),
                None => Ok(stream),
            }
        },
        props,
    );
    match tokio::time::timeout(limit, connect).await {
        Ok(result) => result
            .map(|connection| (connection, socket))
            .map_err(|source| super::connect_error::connect_failed(url, source)),
        Err(_) => {
            socket.shut_down();
            Err(QueueError::Connect {
                target: super::connect_error::describe_target(url),
                cause: format!("no answer within {} s", limit.as_secs()),
                hint: "check the host in AMQP_URL, that no firewall drops the traffic, and that RabbitMQ is not overloaded (it then accepts connections but does not answer)",
            })
        }
    }
}

/// A second handle on a connection's socket, to end it from outside lapin.
#[derive(Default)]
struct Socket(Arc<Mutex<Option<std::net::TcpStream>>>);

impl Socket {
    fn shut_down(&self) {
        if let Some(stream) = lock(&self.0).take() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Broker {
    /// A connection to one of `url`'s nodes (a list, see [`Nodes`]),
    /// starting at a random one. A long-lived process keeps one [`Nodes`]
    /// instead, so that it moves on from a node it lost.
    pub async fn open(
        address: impl Into<BrokerAddress>,
        names: Names,
        role: &str,
    ) -> Result<Broker, QueueError> {
        Nodes::new(address.into()).open(names, role).await
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
        ca: Option<&Arc<rustls::RootCertStore>>,
        names: Names,
        role: &str,
        node_index: usize,
    ) -> Result<Broker, QueueError> {
        let props = ConnectionProperties::default().with_connection_name(role.to_string().into());
        let (connection, socket) = connect_within(url, ca, props, NODE_CONNECT_TIMEOUT).await?;
        let broker = Broker {
            connection,
            names,
            node: super::nodes::node_label(url),
            node_index,
        };
        let setup = async {
            let setup = broker.channel("opening a channel").await?;
            declare_topology(&setup, &broker.names).await?;
            let _ = setup.close(200, "topology declared".into()).await;
            Ok::<(), QueueError>(())
        };
        match tokio::time::timeout(NODE_CONNECT_TIMEOUT, setup).await {
            Ok(Ok(())) => Ok(broker),
            Ok(Err(e)) => {
                let close = broker.close("declaring the topology failed");
                if tokio::time::timeout(NODE_CONNECT_TIMEOUT, close)
                    .await
                    .is_err()
                {
                    socket.shut_down();
                }
                Err(e)
            }
            Err(_) => {
                socket.shut_down();
                Err(QueueError::Connect {
                    target: super::connect_error::describe_target(url),
                    cause: format!(
                        "connected, but declaring the queues got no answer within {} s",
                        NODE_CONNECT_TIMEOUT.as_secs()
                    ),
                    hint: "check that RabbitMQ is not overloaded (its management UI, `rabbitmq-diagnostics status`)",
                })
            }
        }
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

    /// Ready messages in the jobs, events, dead and (summed) wait queues.
    pub async fn queue_depths(&self) -> Result<QueueDepths, QueueError> {
        let channel = self.channel("opening a channel to count messages").await?;
        let mut depths = QueueDepths {
            jobs: ready_messages(&channel, &self.names.jobs_queue()).await?,
            events: ready_messages(&channel, &self.names.events_queue()).await?,
            dead: ready_messages(&channel, &self.names.dead_queue()).await?,
            delay: 0,
        };
        // Declared with the topology, so probing them passively is safe.
        for queue in self.names.wait_queues() {
            depths.delay += ready_messages(&channel, &queue).await?;
        }
        let _ = channel.close(200, "counted".into()).await;
        Ok(depths)
    }

    /// Whether the connection is still up (not closed, lost or failed).
    pub fn is_open(&self) -> bool {
        self.connection.status().connected()
    }

    /// Closing hands every unacknowledged delivery back to RabbitMQ.
    pub async fn close(&self, reason: &str) {
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
