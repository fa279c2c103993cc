//! Broker connection failures turned into what an operator can act on:
//! which broker and vhost (password never shown), why, and what to do.

use std::str::FromStr;

use lapin::uri::AMQPUri;

use super::QueueError;
use crate::tls::HandshakeFailure;

/// Where AMQP_URL points, for messages: `vhost "/" on host:port as user "u"`.
pub fn describe_target(url: &str) -> String {
    match AMQPUri::from_str(url) {
        Ok(uri) => format!(
            "vhost \"{}\" on {}:{} as user \"{}\"",
            uri.vhost, uri.authority.host, uri.authority.port, uri.authority.userinfo.username
        ),
        Err(_) => "the AMQP_URL broker (the URL does not parse)".into(),
    }
}

fn io_kind(err: &lapin::Error) -> Option<std::io::ErrorKind> {
    match err.kind() {
        lapin::ErrorKind::IOError(io) => Some(io.kind()),
        _ => None,
    }
}

/// A failed `Connection::connect` to `url`.
pub fn connect_failed(url: &str, source: lapin::Error) -> QueueError {
    let text = source.to_string();
    let lower = text.to_ascii_lowercase();
    let (cause, hint): (String, &'static str) = if AMQPUri::from_str(url).is_err() {
        (
            format!("AMQP_URL does not parse ({text})"),
            "write it as amqp://user:password@host:5672/vhost (vhost `/` is %2f)",
        )
    } else if io_kind(&source) == Some(std::io::ErrorKind::ConnectionRefused) {
        (
            "connection refused (nothing listens on that port)".into(),
            "start RabbitMQ, or fix the host and port in AMQP_URL",
        )
    } else if lower.contains("lookup address") || lower.contains("name or service not known") {
        (
            format!("unknown host ({text})"),
            "fix the host name in AMQP_URL (or the DNS)",
        )
    } else if lower.contains("access_refused") || lower.contains("login was refused") {
        (
            format!("authentication failed ({text})"),
            "check the user and password in AMQP_URL (percent-encode special characters)",
        )
    } else if lower.contains("not_allowed") || lower.contains("vhost") {
        (
            format!("the vhost is missing or this user may not use it ({text})"),
            "create it with `rabbitmqctl add_vhost <vhost>` and grant access with `rabbitmqctl set_permissions -p <vhost> <user> '.*' '.*' '.*'`, or fix the vhost in AMQP_URL (`/` is %2f)",
        )
    } else if let Some(failure) = HandshakeFailure::of(&text) {
        (
            format!("TLS: {} ({text})", failure.why()),
            match failure {
                HandshakeFailure::UnknownIssuer => "AMQP_CA_FILE must name a PEM file holding the CA that signed RabbitMQ's certificate (unset: only public CAs are trusted)",
                HandshakeFailure::WrongName => "the host in AMQP_URL must be a name RabbitMQ's certificate gives; connect by that name",
                HandshakeFailure::Expired => "RabbitMQ's certificate must be renewed (or this host's clock is wrong)",
            },
        )
    } else if lower.contains("corrupt message") || lower.contains("invalidcontenttype") {
        (
            format!("TLS failed: the port does not speak TLS ({text})"),
            "amqps:// needs RabbitMQ's TLS listener (usually port 5671); amqp:// is the plain port (5672)",
        )
    } else if lower.contains("tls") || lower.contains("certificate") || lower.contains("handshake")
    {
        (
            format!("TLS failed ({text})"),
            "use amqps:// only against a TLS port (5671) with a certificate this host trusts, amqp:// against 5672",
        )
    } else if io_kind(&source) == Some(std::io::ErrorKind::TimedOut) {
        (
            "the connection timed out".into(),
            "check the host in AMQP_URL and that no firewall drops the traffic",
        )
    } else {
        (
            text,
            "check AMQP_URL and that RabbitMQ is reachable from this host",
        )
    };
    QueueError::Connect {
        target: describe_target(url),
        cause,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_host_port_vhost_and_user_never_the_password() {
        let t = describe_target("amqp://app:hunter2@mq.internal:5673/prod");
        assert_eq!(t, "vhost \"prod\" on mq.internal:5673 as user \"app\"");
        assert_eq!(
            describe_target("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "vhost \"/\" on 127.0.0.1:5672 as user \"guest\""
        );
    }
}
