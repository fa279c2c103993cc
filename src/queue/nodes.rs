//! `AMQP_URL` as a list of the nodes of one RabbitMQ cluster
//! (`amqp://u:p@mq1:5672/%2f,amqp://u:p@mq2:5672/%2f,...`), as RabbitMQ's
//! Java client, Bunny and Rascal take it. A process starts at a random node
//! (so connections, and the queue replicas they lead to, spread over the
//! cluster) and, once its connection is lost, moves on to the next node that
//! answers. One URL is a list of one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Broker, Names, QueueError};

/// How long one node gets to accept a connection before the next is tried
/// (a node behind a black-holing network would otherwise hold the switch
/// for the operating system's TCP timeout).
pub const NODE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the broker is: `AMQP_URL` (one node or a list) and the CAs
/// trusted for its `amqps://` nodes (`AMQP_CA_FILE`; None: the public
/// ones). A bare URL (tests, tools) trusts the public CAs.
#[derive(Clone, Debug)]
pub struct BrokerAddress {
    pub url: String,
    pub ca: Option<Arc<rustls::RootCertStore>>,
}

impl From<&str> for BrokerAddress {
    fn from(url: &str) -> BrokerAddress {
        BrokerAddress {
            url: url.to_string(),
            ca: None,
        }
    }
}

impl From<&crate::config::Settings> for BrokerAddress {
    fn from(settings: &crate::config::Settings) -> BrokerAddress {
        BrokerAddress {
            url: settings.amqp_url.clone(),
            ca: settings.amqp_ca.as_ref().map(|ca| ca.roots.clone()),
        }
    }
}

/// The nodes of `AMQP_URL` and where this process stands among them.
/// Cheap to clone; clones share the position.
#[derive(Clone, Debug)]
pub struct Nodes {
    urls: Arc<[String]>,
    /// The CAs for `amqps://` nodes.
    ca: Option<Arc<rustls::RootCertStore>>,
    /// The node to try first.
    next: Arc<AtomicUsize>,
}

/// The URLs of `AMQP_URL`, in order: split on commas, blanks trimmed,
/// empty items dropped (a comma in a password is written `%2C`).
pub fn split_urls(amqp_url: &str) -> Vec<String> {
    amqp_url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect()
}

/// `host:port` of a node's URL, for `/readyz`, metrics and logs (never
/// the user or password).
pub fn node_label(url: &str) -> String {
    use std::str::FromStr;
    match lapin::uri::AMQPUri::from_str(url) {
        Ok(uri) => format!("{}:{}", uri.authority.host, uri.authority.port),
        Err(_) => "unparsable AMQP_URL".into(),
    }
}

impl Nodes {
    /// The nodes of `address`, starting at a random one.
    pub fn new(address: BrokerAddress) -> Nodes {
        let mut urls = split_urls(&address.url);
        if urls.is_empty() {
            // Settings refuse an empty AMQP_URL; keep the error at connect.
            urls.push(address.url.clone());
        }
        let start = rand::random_range(0..urls.len());
        Nodes {
            urls: urls.into(),
            ca: address.ca,
            next: Arc::new(AtomicUsize::new(start)),
        }
    }

    /// The nodes of a bare `AMQP_URL` (public CAs for `amqps://`).
    pub fn parse(amqp_url: &str) -> Nodes {
        Nodes::new(amqp_url.into())
    }

    pub fn len(&self) -> usize {
        self.urls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// `host:port` of every node, in the list's order.
    pub fn labels(&self) -> Vec<String> {
        self.urls.iter().map(|u| node_label(u)).collect()
    }

    /// The broker on the first node that answers, from the current
    /// position round the list once; the position stays on that node.
    /// Fails with every node's error if none answers.
    pub async fn open(&self, names: Names, role: &str) -> Result<Broker, QueueError> {
        let first = self.next.load(Ordering::Relaxed) % self.urls.len();
        let mut failures = Vec::new();
        for step in 0..self.urls.len() {
            let index = (first + step) % self.urls.len();
            let url = &self.urls[index];
            // Bounded in `open_node`, which also closes the socket of an
            // attempt that timed out.
            let result = Broker::open_node(url, self.ca.as_ref(), names.clone(), role, index).await;
            match result {
                Ok(broker) => {
                    self.next.store(index, Ordering::Relaxed);
                    if step > 0 {
                        tracing::info!(node = %broker.node(), skipped = step,
                            "connected to the next RabbitMQ node that answered");
                    }
                    return Ok(broker);
                }
                Err(e) => failures.push(e),
            }
        }
        if failures.len() == 1 {
            if let Some(e) = failures.pop() {
                return Err(e);
            }
        }
        Err(QueueError::NoNode(
            failures
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        ))
    }

    /// The connection to `broker`'s node was lost: the next open starts at
    /// the node after it (a dead node is not waited on first).
    pub fn lost(&self, node_index: usize) {
        let next = (node_index + 1) % self.urls.len();
        let _ = self.next.compare_exchange(
            node_index % self.urls.len(),
            next,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_splits_on_commas_and_one_url_is_a_list_of_one() {
        assert_eq!(
            split_urls(" amqp://a:5672/%2f , amqp://b:5673/%2f,,"),
            vec!["amqp://a:5672/%2f", "amqp://b:5673/%2f"]
        );
        assert_eq!(split_urls("amqp://a/%2f").len(), 1);
        let nodes = Nodes::parse("amqp://u:secret@mq1:5672/%2f,amqp://u:secret@mq2:5673/%2f");
        assert_eq!(nodes.labels(), vec!["mq1:5672", "mq2:5673"]);
    }

    #[test]
    fn starts_anywhere_and_moves_past_a_lost_node() {
        let url = "amqp://a/%2f,amqp://b/%2f,amqp://c/%2f";
        let starts: std::collections::HashSet<usize> = (0..200)
            .map(|_| Nodes::parse(url).next.load(Ordering::Relaxed))
            .collect();
        assert_eq!(starts.len(), 3, "every node is somebody's first");
        let nodes = Nodes::parse(url);
        nodes.next.store(2, Ordering::Relaxed);
        nodes.lost(2);
        assert_eq!(nodes.next.load(Ordering::Relaxed), 0, "wraps round");
        // A stale report (the position already moved on) changes nothing.
        nodes.lost(2);
        assert_eq!(nodes.next.load(Ordering::Relaxed), 0);
    }
}
