//! The only module that talks to RabbitMQ: topology, messages, publishing.

mod connect;
mod headers;
mod message;
mod publisher;
mod topology;

pub use connect::connect;
pub use headers::{attempt_of, busy_count_of, enqueued_at_of, header_str, Headers};
pub use message::{EventMessage, ImportBehavior, JobMessage, JobType, MessageError};
pub use publisher::{JobEnvelope, Publisher};
pub use topology::{declare_delay_queue, declare_topology, Names, DELIVERY_LIMIT};

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
