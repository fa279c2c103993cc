use lapin::{Connection, ConnectionProperties};

use super::QueueError;
use crate::config::settings_redact_url as redact;

/// Opens a connection named after the process role (shown in RabbitMQ's UI).
///
/// No lapin auto-recovery: the worker's supervisor loop reconnects from
/// scratch instead, so no ack is ever sent on a channel that outlived its
/// connection (redelivered jobs are idempotent).
pub async fn connect(url: &str, name: &str) -> Result<Connection, QueueError> {
    let props = ConnectionProperties::default().with_connection_name(name.to_string().into());
    Connection::connect(url, props)
        .await
        .map_err(|source| QueueError::Connect {
            url: redact(url),
            source,
        })
}
