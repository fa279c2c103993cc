//! The dead-letter queue for operators: browse, requeue, discard.
//!
//! Never loses a message: everything is taken with `basic_get` *without*
//! acknowledgement and held on one channel; a message is acknowledged only
//! after its republish was confirmed (requeue) or when it is the one to
//! discard; everything else is handed back with a nack-requeue (and closing
//! the channel would hand it back too). The dead queue has no delivery
//! limit, so browsing never drops anything.

use chrono::Utc;
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;

use super::headers::{envelope_of, Headers};
use super::message::decode_job;
use super::{Broker, QueueError, DELIVERY_LIMIT};
use crate::model::{Job, JobEnvelope};

/// Headers the broker or the worker add when dead-lettering; dropped on requeue.
const DEAD_HEADERS: [&str; 7] = [
    Headers::DEAD_REASON,
    Headers::DEAD_SOURCE,
    Headers::DEAD_ROUTING_KEY,
    Headers::DEAD_AT,
    "x-death",
    "x-delivery-count",
    "x-first-death-reason",
];

/// Bytes of the body shown by `dead list`.
const PREVIEW_BYTES: usize = 160;

/// One message on the dead-letter queue, as `dead list` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeadLetter {
    /// 1-based position in the queue at the time of listing.
    pub position: usize,
    pub message_id: Option<String>,
    /// Why it was dead-lettered (`x-secret-sync-dead-reason`, or the broker's
    /// `x-death` reason such as `delivery_limit`).
    pub reason: Option<String>,
    /// The queue it came from.
    pub source: Option<String>,
    pub routing_key: String,
    pub dead_at: Option<String>,
    /// The body's first bytes, escaped (control characters and non-UTF-8
    /// shown as escapes, so a terminal never interprets them).
    pub body_preview: String,
    pub body_bytes: usize,
    /// Whom it concerns (for showing it only to them); not in `dead list`.
    #[serde(skip)]
    pub subject: DeadSubject,
}

/// Whom a dead letter concerns, as its body says: a job's sync, an event's
/// project, or nobody (not JSON, no such field): then only an instance
/// admin may see it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeadSubject {
    Sync(uuid::Uuid),
    Project(String),
    Unknown,
}

impl DeadSubject {
    /// Read leniently (a job with a bad shape still names its sync).
    pub fn of(routing_key: &str, body: &[u8]) -> DeadSubject {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return DeadSubject::Unknown;
        };
        let text = |field: &str| value.get(field).and_then(|v| v.as_str());
        if routing_key == "secret.changed" {
            return match text("projectId") {
                Some(p) if !p.is_empty() => DeadSubject::Project(p.to_string()),
                _ => DeadSubject::Unknown,
            };
        }
        match text("syncId").and_then(|id| uuid::Uuid::parse_str(id).ok()) {
            Some(id) => DeadSubject::Sync(id),
            None => DeadSubject::Unknown,
        }
    }
}

/// A job message sitting in the dead-letter queue (for the rescuer).
#[derive(Clone, Debug)]
pub struct DeadJob {
    pub job: Job,
    pub envelope: JobEnvelope,
    /// Why it was dead-lettered, in words.
    pub reason: String,
}

/// Which dead letters an operation applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadSelector {
    All,
    /// 1-based, as `dead list` numbers them.
    Position(usize),
    MessageId(String),
}

impl DeadSelector {
    /// `all`, a position (`3`) or a message id.
    pub fn parse(text: &str) -> DeadSelector {
        match text {
            "all" => DeadSelector::All,
            _ => match text.parse::<usize>() {
                Ok(n) => DeadSelector::Position(n),
                Err(_) => DeadSelector::MessageId(text.to_string()),
            },
        }
    }
}

impl std::fmt::Display for DeadSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeadSelector::All => f.write_str("all"),
            DeadSelector::Position(n) => write!(f, "position {n}"),
            DeadSelector::MessageId(id) => write!(f, "message id {id}"),
        }
    }
}

fn header_text(table: Option<&FieldTable>, name: &str) -> Option<String> {
    match table?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// The first `x-death` entry's field `name` (the broker's own dead-lettering).
fn x_death(table: Option<&FieldTable>, name: &str) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = table?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    match first.inner().get(name)? {
        AMQPValue::Timestamp(t) => {
            chrono::DateTime::from_timestamp(i64::try_from(*t).ok()?, 0).map(|d| d.to_rfc3339())
        }
        AMQPValue::FieldArray(keys) => match keys.as_slice().first()? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            _ => None,
        },
        _ => header_text(Some(first), name),
    }
}

/// Escaped preview of a body: never raw control characters on a terminal
/// (they show as `\n`, `\u{1b}`, ...); everything printable as it is.
pub fn preview(body: &[u8]) -> String {
    let cut = &body[..body.len().min(PREVIEW_BYTES)];
    let mut text: String = String::from_utf8_lossy(cut)
        .chars()
        .flat_map(|c| {
            // Controls, and the invisible characters that reorder or hide text.
            let hidden = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}' | '\u{feff}');
            let escaped: Vec<char> = if c.is_control() || hidden {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if body.len() > PREVIEW_BYTES {
        text.push('…');
    }
    text
}

fn describe(position: usize, msg: &BasicGetMessage) -> DeadLetter {
    let props = &msg.delivery.properties;
    let headers = props.headers().as_ref();
    DeadLetter {
        position,
        message_id: props
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_string()),
        reason: dead_reason(headers),
        source: header_text(headers, Headers::DEAD_SOURCE).or_else(|| x_death(headers, "queue")),
        routing_key: original_routing_key(msg),
        dead_at: header_text(headers, Headers::DEAD_AT).or_else(|| x_death(headers, "time")),
        body_preview: preview(&msg.delivery.data),
        body_bytes: msg.delivery.data.len(),
        subject: DeadSubject::of(&original_routing_key(msg), &msg.delivery.data),
    }
}

/// Our own reason header, else what the broker's `x-death` says.
fn dead_reason(headers: Option<&FieldTable>) -> Option<String> {
    header_text(headers, Headers::DEAD_REASON).or_else(|| {
        x_death(headers, "reason").map(|r| match r.as_str() {
            "delivery_limit" => format!(
                "RabbitMQ dead-lettered it after {DELIVERY_LIMIT} deliveries (each ended without \
                 an answer: a worker crashed or gave it back)"
            ),
            other => format!("rejected by the broker: {other}"),
        })
    })
}

fn original_routing_key(msg: &BasicGetMessage) -> String {
    let headers = msg.delivery.properties.headers().as_ref();
    header_text(headers, Headers::DEAD_ROUTING_KEY)
        .or_else(|| x_death(headers, "routing-keys"))
        .unwrap_or_else(|| msg.delivery.routing_key.as_str().to_string())
}

/// What to do with the selected messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Requeue,
    Discard,
}

impl Broker {
    /// The dead letters, oldest first, at most `limit`.
    pub async fn list_dead(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let held = Held::take(self, limit).await?;
        let listed = held
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| describe(i + 1, m))
            .collect();
        held.release().await?;
        Ok(listed)
    }

    /// The job messages among the first `limit` dead letters, with why
    /// they are there; nothing is removed (the rescuer records them failed).
    pub async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, QueueError> {
        let held = Held::take(self, limit).await?;
        let jobs = held
            .messages
            .iter()
            .filter_map(|m| {
                let props = &m.delivery.properties;
                let message_id = props.message_id().as_ref().map(|id| id.as_str());
                // Poison messages have no job to rescue; they just stay listed.
                let job =
                    decode_job(&m.delivery.data, &original_routing_key(m), message_id).ok()?;
                Some(DeadJob {
                    job,
                    envelope: envelope_of(props),
                    reason: dead_reason(props.headers().as_ref())
                        .unwrap_or_else(|| "it reached the dead-letter queue".into()),
                })
            })
            .collect();
        held.release().await?;
        Ok(jobs)
    }

    /// Publishes the selected dead letters back to where they came from (the
    /// jobs exchange, or the events exchange for events) with their original
    /// routing key and the dead-letter headers removed. Returns how many.
    pub async fn requeue_dead(&self, which: &DeadSelector) -> Result<usize, QueueError> {
        self.settle_dead(which, Action::Requeue).await
    }

    /// Drops the selected dead letters for good. Returns how many.
    pub async fn discard_dead(&self, which: &DeadSelector) -> Result<usize, QueueError> {
        self.settle_dead(which, Action::Discard).await
    }

    async fn settle_dead(&self, which: &DeadSelector, action: Action) -> Result<usize, QueueError> {
        // Only what is there now: a requeued job that dies again must not
        // come round in the same pass. A position needs only that many.
        let limit = match which {
            DeadSelector::Position(n) => *n,
            DeadSelector::All | DeadSelector::MessageId(_) => usize::MAX,
        };
        let batch = self.take_dead(limit).await?;
        let visible = vec![true; batch.held.messages.len()];
        batch.settle(which, action, &visible).await
    }

    /// Takes (without acknowledging) at most `limit` dead letters, to be
    /// filtered by whom they concern, then listed or settled.
    pub async fn take_dead(&self, limit: usize) -> Result<DeadBatch<'_>, QueueError> {
        Ok(DeadBatch {
            broker: self,
            held: Held::take(self, limit).await?,
        })
    }

    async fn republish(&self, channel: &Channel, msg: &BasicGetMessage) -> Result<(), QueueError> {
        let names = self.names();
        let routing_key = original_routing_key(msg);
        let exchange = if routing_key == "secret.changed" {
            names.events_exchange()
        } else {
            names.jobs_exchange()
        };
        let props = &msg.delivery.properties;
        let mut headers = FieldTable::default();
        if let Some(original) = props.headers() {
            for (name, value) in original.inner() {
                if !DEAD_HEADERS.contains(&name.as_str()) {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
        headers.insert(
            "x-secret-sync-requeued-at".into(),
            AMQPValue::LongString(Utc::now().to_rfc3339().into()),
        );
        let props = props.clone().with_headers(headers).with_delivery_mode(2);
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &msg.delivery.data,
                props,
            )
            .await
            .map_err(QueueError::broker(format!("requeueing to {exchange}")))?
            .await
            .map_err(QueueError::broker(format!(
                "confirming the requeue to {exchange}"
            )))?;
        if confirm.is_nack() || confirm.take_message().is_some() {
            // Nacked, or returned as unroutable: keep it on the dead queue.
            return Err(QueueError::NotConfirmed(format!(
                "{exchange} with routing key `{routing_key}`"
            )));
        }
        Ok(())
    }
}

/// Dead letters taken, not yet handed back: the caller decides which it
/// may see (`visible`, one flag per message, in `subjects()` order); the
/// others are neither shown, nor counted, nor settled, and positions count
/// only the visible ones.
pub struct DeadBatch<'a> {
    broker: &'a Broker,
    held: Held,
}

impl DeadBatch<'_> {
    /// Whom each taken message concerns, in queue order.
    pub fn subjects(&self) -> Vec<DeadSubject> {
        self.held
            .messages
            .iter()
            .map(|m| DeadSubject::of(&original_routing_key(m), &m.delivery.data))
            .collect()
    }

    /// The first `limit` visible letters, numbered among themselves; hands
    /// everything back.
    pub async fn list(self, visible: &[bool], limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let listed = self
            .visible(visible)
            .into_iter()
            .take(limit)
            .enumerate()
            .map(|(n, i)| describe(n + 1, &self.held.messages[i]))
            .collect();
        self.held.release().await?;
        Ok(listed)
    }

    pub async fn requeue(
        self,
        which: &DeadSelector,
        visible: &[bool],
    ) -> Result<usize, QueueError> {
        self.settle(which, Action::Requeue, visible).await
    }

    pub async fn discard(
        self,
        which: &DeadSelector,
        visible: &[bool],
    ) -> Result<usize, QueueError> {
        self.settle(which, Action::Discard, visible).await
    }

    /// Indexes of the visible messages.
    fn visible(&self, visible: &[bool]) -> Vec<usize> {
        (0..self.held.messages.len())
            .filter(|&i| visible.get(i).copied().unwrap_or(false))
            .collect()
    }

    async fn settle(
        self,
        which: &DeadSelector,
        action: Action,
        visible: &[bool],
    ) -> Result<usize, QueueError> {
        let shown = self.visible(visible);
        let held = self.held;
        let selected: Vec<usize> = match which {
            DeadSelector::All => shown.clone(),
            DeadSelector::Position(n) if (1..=shown.len()).contains(n) => vec![shown[n - 1]],
            DeadSelector::Position(_) => Vec::new(),
            DeadSelector::MessageId(id) => shown
                .iter()
                .copied()
                .find(|&i| {
                    held.messages[i]
                        .delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|s| s.as_str())
                        == Some(id.as_str())
                })
                .into_iter()
                .collect(),
        };
        if selected.is_empty() && *which != DeadSelector::All {
            let count = shown.len();
            held.release().await?;
            return Err(QueueError::NoSuchDeadLetter {
                which: which.to_string(),
                count,
            });
        }
        let mut done = 0;
        for &i in &selected {
            let msg = &held.messages[i];
            if action == Action::Requeue {
                if let Err(e) = self.broker.republish(&held.channel, msg).await {
                    // Not acknowledged: it stays on the dead queue.
                    held.release().await?;
                    return Err(e);
                }
            }
            held.channel
                .basic_ack(msg.delivery.delivery_tag, BasicAckOptions::default())
                .await
                .map_err(QueueError::broker("acknowledging a dead letter"))?;
            done += 1;
        }
        held.release_except(&selected).await?;
        Ok(done)
    }
}

/// Dead letters taken without acknowledgement on one channel.
struct Held {
    channel: Channel,
    messages: Vec<BasicGetMessage>,
}

impl Held {
    async fn take(broker: &Broker, limit: usize) -> Result<Held, QueueError> {
        let channel = broker.channel("opening a dead-letter channel").await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(QueueError::broker("enabling publisher confirms"))?;
        let queue = broker.names().dead_queue();
        let count = channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(QueueError::broker(format!("inspecting {queue}")))?
            .message_count();
        let wanted = limit.min(usize::try_from(count).unwrap_or(usize::MAX));
        let mut messages = Vec::with_capacity(wanted.min(10_000));
        while messages.len() < wanted {
            let got = channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .map_err(QueueError::broker(format!("reading {queue}")))?;
            match got {
                Some(msg) => messages.push(msg),
                None => break,
            }
        }
        Ok(Held { channel, messages })
    }

    async fn release(self) -> Result<(), QueueError> {
        self.release_except(&[]).await
    }

    /// Hands back every held message not in `settled`, then closes.
    async fn release_except(self, settled: &[usize]) -> Result<(), QueueError> {
        for (i, msg) in self.messages.iter().enumerate() {
            if settled.contains(&i) {
                continue;
            }
            self.channel
                .basic_nack(
                    msg.delivery.delivery_tag,
                    BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    },
                )
                .await
                .map_err(QueueError::broker("handing back a dead letter"))?;
        }
        // Closing also hands back anything a failure above left unsettled.
        let _ = self.channel.close(200, "done".into()).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse() {
        assert_eq!(DeadSelector::parse("all"), DeadSelector::All);
        assert_eq!(DeadSelector::parse("3"), DeadSelector::Position(3));
        assert_eq!(
            DeadSelector::parse("order-42"),
            DeadSelector::MessageId("order-42".into())
        );
    }

    #[test]
    fn subjects_come_from_the_body() {
        let id = uuid::Uuid::new_v4();
        let job = format!(r#"{{"syncId":"{id}","type":"sync"}}"#);
        assert_eq!(
            DeadSubject::of("sync", job.as_bytes()),
            DeadSubject::Sync(id)
        );
        let bad_shape = format!(r#"{{"syncId":"{id}","type":"bogus"}}"#);
        assert_eq!(
            DeadSubject::of("x", bad_shape.as_bytes()),
            DeadSubject::Sync(id)
        );
        let event = br#"{"projectId":"p","environment":"e","secretPath":"/"}"#;
        assert_eq!(
            DeadSubject::of("secret.changed", event),
            DeadSubject::Project("p".into())
        );
        // A job body cannot claim a project; garbage names nobody.
        assert_eq!(DeadSubject::of("sync", event), DeadSubject::Unknown);
        assert_eq!(DeadSubject::of("sync", b"not json"), DeadSubject::Unknown);
        assert_eq!(
            DeadSubject::of("sync", br#"{"syncId":"x"}"#),
            DeadSubject::Unknown
        );
    }

    #[test]
    fn previews_escape_and_cut() {
        assert_eq!(preview(b"{\"a\":1}\n\x1b[2J"), "{\"a\":1}\\n\\u{1b}[2J");
        assert_eq!(preview(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(preview("a\u{202e}b".as_bytes()), "a\\u{202e}b");
        let long = vec![b'x'; 500];
        let p = preview(&long);
        assert!(p.ends_with('…') && p.chars().count() == PREVIEW_BYTES + 1);
    }
}
