//! The only module that talks to RabbitMQ: the connection and topology,
//! consuming and settling deliveries, publishing with confirms, and the
//! mapping between message bodies and the domain's `Job`. Nothing outside
//! this folder sees a wire type.

mod broker;
mod connect_error;
mod dead;
mod headers;
mod link;
mod message;
mod nodes;
mod publisher;
mod topology;

pub use broker::{Broker, Consumer, Incoming, QueueDepths};
pub use dead::{
    DeadAction, DeadJob, DeadLetter, DeadLetterRoom, DeadSelector, DeadSubject, Settled,
};
pub use headers::Headers;
pub use link::{retry_delay, Link};
pub use message::{
    decode_event, decode_job, encode_event, encode_job, MessageError, SecretChanged,
};
pub use nodes::{node_label, split_urls, BrokerAddress, Nodes, NODE_CONNECT_TIMEOUT};
pub use publisher::Publisher;
pub use topology::{Names, DELIVERY_LIMIT};

use topology::declare_topology;

/// A broker failure. Messages never carry message bodies (they may name keys).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot connect to RabbitMQ ({target}): {cause}. To fix: {hint}")]
    Connect {
        target: String,
        cause: String,
        hint: &'static str,
    },
    #[error("RabbitMQ is not reachable now ({cause}); the next attempt is due in {} ms", retry_after.as_millis())]
    Unavailable {
        retry_after: std::time::Duration,
        cause: String,
    },
    #[error("cannot connect to any RabbitMQ node of AMQP_URL: {0}")]
    NoNode(String),
    #[error("RabbitMQ {action} failed: {source}")]
    Broker {
        action: String,
        #[source]
        source: lapin::Error,
    },
    #[error("RabbitMQ did not confirm the message published to {0} (nack)")]
    NotConfirmed(String),
    #[error("RabbitMQ closed the {0} consumer (connection lost or queue deleted)")]
    ConsumerClosed(&'static str),
    #[error("no dead letter at {which} (the dead-letter queue holds {count}); see `secret-sync dead list`")]
    NoSuchDeadLetter { which: String, count: usize },
    #[error("message could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

impl QueueError {
    /// The broker (or every node of it) is unreachable or failed mid-call:
    /// worth trying again later, unlike a bad message or a missing dead letter.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            QueueError::Connect { .. }
                | QueueError::Unavailable { .. }
                | QueueError::NoNode(_)
                | QueueError::Broker { .. }
                | QueueError::NotConfirmed(_)
                | QueueError::ConsumerClosed(_)
        )
    }

    pub(crate) fn broker(action: impl Into<String>) -> impl FnOnce(lapin::Error) -> QueueError {
        let action = action.into();
        move |source| QueueError::Broker { action, source }
    }
}
