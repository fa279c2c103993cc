//! The only module that talks to RabbitMQ: the connection and topology,
//! consuming and settling deliveries, publishing with confirms, and the
//! mapping between message bodies and the domain's `Job`. Nothing outside
//! this folder sees a wire type.

mod broker;
mod headers;
mod message;
mod publisher;
mod topology;

pub use broker::{Broker, Consumer, DeadJob, Incoming};
pub use headers::Headers;
pub use message::{
    decode_event, decode_job, encode_event, encode_job, MessageError, SecretChanged,
};
pub use publisher::Publisher;
pub use topology::{Names, DELIVERY_LIMIT};

use topology::declare_topology;

/// A broker failure. Messages never carry message bodies (they may name keys).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("RabbitMQ at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: lapin::Error,
    },
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
    #[error("message could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

impl QueueError {
    pub(crate) fn broker(action: impl Into<String>) -> impl FnOnce(lapin::Error) -> QueueError {
        let action = action.into();
        move |source| QueueError::Broker { action, source }
    }
}
