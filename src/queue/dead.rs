//! The dead-letter queue for operators: browse, requeue, discard.
//!
//! Never loses a message: everything is taken with `basic_get` *without*
//! acknowledgement on one channel; a message is acknowledged only after its
//! republish was confirmed (requeue) or when it is the one to discard. The
//! rest is handed back with one nack at the end of the pass, and the pass
//! waits until the broker has them back before it returns (a reader right
//! after sees them); a pass dropped unfinished (a request cut off) closes its
//! channel, which hands everything back too. The dead queue has no delivery
//! limit, so browsing never drops anything.
//!
//! Bounded: messages are read a page at a time (`DEAD_LETTER_PAGE_SIZE`);
//! only the current page's bodies are in memory, and a dashboard action
//! settles at most one page. The API process reaches the queue through one
//! [`DeadLetterRoom`]: one connection and channel shared by every request
//! (reopened when they die), one pass at a time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::headers::{envelope_of, Headers};
use super::message::decode_job;
use super::{Broker, Names, QueueError, DELIVERY_LIMIT};
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

/// What to do with the selected dead letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadAction {
    /// Publish back to where it came from, dead-letter headers removed.
    Requeue,
    /// Drop for good.
    Discard,
}

/// What a requeue or discard did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Messages requeued or discarded.
    pub done: usize,
    /// Pages read to get there (each at most the page size).
    pub pages: usize,
    /// `all` stopped at its cap (one page) with more of the caller's
    /// letters behind it: the same action again settles the next page.
    pub more: bool,
    /// Whom each settled letter concerns (its audit goes to those projects).
    pub subjects: Vec<DeadSubject>,
}

/// How long the shared connection gets to open before the request fails.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long closing a channel or connection may take before it is left.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for handed-back letters to show as ready again.
const HAND_BACK_WAIT: Duration = Duration::from_secs(2);
/// Pages of `dead list` and of the rescuer's scan.
const LIST_PAGE: usize = 500;

/// Every letter is the caller's (the command line, the rescuer).
async fn everyone<E>(subjects: Vec<DeadSubject>) -> Result<Vec<bool>, E> {
    Ok(vec![true; subjects.len()])
}

fn subject(msg: &BasicGetMessage) -> DeadSubject {
    DeadSubject::of(&original_routing_key(msg), &msg.delivery.data)
}

impl Broker {
    /// The dead letters, oldest first, at most `limit`; all handed back.
    pub async fn list_dead(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut pass = Pass::own(self, limit).await?;
        let listed = list_on(&mut pass, LIST_PAGE, limit, everyone).await;
        pass.finish().await;
        listed
    }

    /// The job messages among the first `limit` dead letters, with why
    /// they are there; nothing is removed (the rescuer records them failed).
    pub async fn dead_jobs(&self, limit: usize) -> Result<Vec<DeadJob>, QueueError> {
        let mut pass = Pass::own(self, limit).await?;
        let mut jobs = Vec::new();
        let read = async {
            loop {
                let page = pass.take(LIST_PAGE).await?;
                if page.is_empty() {
                    return Ok(());
                }
                jobs.extend(page.iter().filter_map(dead_job));
            }
        }
        .await;
        pass.finish().await;
        read.map(|()| jobs)
    }

    /// Publishes the selected dead letters back to where they came from (the
    /// jobs exchange, or the events exchange for events) with their original
    /// routing key and the dead-letter headers removed, reading `page` at a
    /// time: `all` goes through the whole queue as it is now, holding at
    /// most one page.
    pub async fn requeue_dead(
        &self,
        which: &DeadSelector,
        page: usize,
    ) -> Result<Settled, QueueError> {
        self.settle_dead(which, DeadAction::Requeue, page).await
    }

    /// Drops the selected dead letters for good, `page` at a time.
    pub async fn discard_dead(
        &self,
        which: &DeadSelector,
        page: usize,
    ) -> Result<Settled, QueueError> {
        self.settle_dead(which, DeadAction::Discard, page).await
    }

    async fn settle_dead(
        &self,
        which: &DeadSelector,
        action: DeadAction,
        page: usize,
    ) -> Result<Settled, QueueError> {
        // Only what is there now: a requeued job that dies again must not
        // come round in the same pass.
        let mut pass = Pass::own(self, usize::MAX).await?;
        let settled = settle_on(
            self.names(),
            &mut pass,
            which,
            action,
            page,
            usize::MAX,
            everyone,
        )
        .await;
        pass.finish().await;
        settled
    }
}

/// The dead-letter queue as the API process reaches it: one channel on the
/// process's shared broker [`super::Link`], opened on first use, shared by
/// every request and reopened when it dies; one pass at a time, so a viewer
/// in this process never finds letters hidden by another one's pass.
pub struct DeadLetterRoom {
    names: Names,
    room: Arc<Mutex<Room>>,
}

/// The room's channel and the connection it is on (opened on use).
struct Room {
    link: super::Link,
    broker: Option<Arc<Broker>>,
    channel: Option<Channel>,
}

impl DeadLetterRoom {
    pub fn new(link: super::Link) -> DeadLetterRoom {
        DeadLetterRoom {
            names: link.names().clone(),
            room: Arc::new(Mutex::new(Room {
                link,
                broker: None,
                channel: None,
            })),
        }
    }

    /// The first `limit` letters `visible` lets the caller see (asked one
    /// page of subjects at a time), numbered among themselves, from at
    /// most `scan` letters read `page` at a time. Everything is handed back
    /// before this returns.
    pub async fn list<E, F, Fut>(
        &self,
        scan: usize,
        page: usize,
        limit: usize,
        visible: F,
    ) -> Result<Vec<DeadLetter>, E>
    where
        E: From<QueueError>,
        F: FnMut(Vec<DeadSubject>) -> Fut,
        Fut: Future<Output = Result<Vec<bool>, E>>,
    {
        let mut pass = self.pass(scan).await?;
        let listed = list_on(&mut pass, page, limit, visible).await;
        pass.finish().await;
        listed
    }

    /// Requeues or discards the selected letters among the caller's (as
    /// `visible` says; positions count only those), from at most `scan`
    /// letters read `page` at a time; `all` settles at most one page.
    pub async fn settle<E, F, Fut>(
        &self,
        which: &DeadSelector,
        action: DeadAction,
        scan: usize,
        page: usize,
        visible: F,
    ) -> Result<Settled, E>
    where
        E: From<QueueError>,
        F: FnMut(Vec<DeadSubject>) -> Fut,
        Fut: Future<Output = Result<Vec<bool>, E>>,
    {
        let mut pass = self.pass(scan).await?;
        let settled = settle_on(&self.names, &mut pass, which, action, page, page, visible).await;
        pass.finish().await;
        settled
    }

    /// Closes the room's channel (it reopens on the next use); the shared
    /// connection stays.
    pub async fn close(&self) {
        let mut room = self.room.lock().await;
        room.broker = None;
        if let Some(channel) = room.channel.take() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, "closing".into())).await;
        }
    }

    async fn pass(&self, scan: usize) -> Result<Pass, QueueError> {
        let mut room = self.room.clone().lock_owned().await;
        let channel = room.channel().await?;
        Pass::begin(channel, Lease::Shared(room), &self.names, scan).await
    }
}

impl Room {
    /// The shared channel: the open one, else a new one on the process's
    /// connection (which the link reopens if it was lost).
    async fn channel(&mut self) -> Result<Channel, QueueError> {
        if let Some(channel) = self.channel.as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        self.channel = None;
        let broker = self.link.broker(OPEN_TIMEOUT).await?;
        match open_channel(&broker).await {
            Ok(channel) => {
                self.broker = Some(broker);
                self.channel = Some(channel.clone());
                Ok(channel)
            }
            Err(e) => {
                tracing::info!(error = %e, "the dead-letter channel could not be opened; reconnecting");
                self.link.lost(&broker);
                Err(e)
            }
        }
    }
}

/// A channel with publisher confirms (a requeue is acknowledged only once
/// its republish is confirmed).
async fn open_channel(broker: &Broker) -> Result<Channel, QueueError> {
    let channel = broker.channel("opening a dead-letter channel").await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(QueueError::broker("enabling publisher confirms"))?;
    Ok(channel)
}

/// The first `limit` visible letters, read `page` at a time; only the
/// current page's bodies are kept.
async fn list_on<E, F, Fut>(
    pass: &mut Pass,
    page: usize,
    limit: usize,
    mut visible: F,
) -> Result<Vec<DeadLetter>, E>
where
    E: From<QueueError>,
    F: FnMut(Vec<DeadSubject>) -> Fut,
    Fut: Future<Output = Result<Vec<bool>, E>>,
{
    let mut listed = Vec::new();
    while listed.len() < limit {
        let taken = pass.take(page.min(limit).max(1)).await?;
        if taken.is_empty() {
            break;
        }
        let shown = visible(taken.iter().map(subject).collect()).await?;
        for (msg, _) in taken.iter().zip(shown).filter(|(_, shown)| *shown) {
            if listed.len() == limit {
                break;
            }
            listed.push(describe(listed.len() + 1, msg));
        }
    }
    Ok(listed)
}

/// Settles the selected visible letters, reading `page` at a time; `all`
/// stops after `max`.
async fn settle_on<E, F, Fut>(
    names: &Names,
    pass: &mut Pass,
    which: &DeadSelector,
    action: DeadAction,
    page: usize,
    max: usize,
    mut visible: F,
) -> Result<Settled, E>
where
    E: From<QueueError>,
    F: FnMut(Vec<DeadSubject>) -> Fut,
    Fut: Future<Output = Result<Vec<bool>, E>>,
{
    let mut settled = Settled::default();
    // The caller's letters seen so far: positions count only these.
    let mut seen = 0usize;
    'pages: loop {
        let taken = pass.take(page.max(1)).await?;
        if taken.is_empty() {
            break;
        }
        settled.pages += 1;
        let shown = visible(taken.iter().map(subject).collect()).await?;
        for (msg, _) in taken.iter().zip(shown).filter(|(_, shown)| *shown) {
            seen += 1;
            let selected = match which {
                DeadSelector::All => true,
                DeadSelector::Position(n) => *n == seen,
                DeadSelector::MessageId(id) => {
                    msg.delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|s| s.as_str())
                        == Some(id.as_str())
                }
            };
            if !selected {
                continue;
            }
            if settled.done >= max {
                settled.more = true;
                break 'pages;
            }
            if action == DeadAction::Requeue {
                // Not acknowledged on failure: it stays on the dead queue.
                republish(names, &pass.channel, msg).await?;
            }
            pass.ack(msg).await?;
            settled.done += 1;
            settled.subjects.push(subject(msg));
            if *which != DeadSelector::All {
                break 'pages;
            }
        }
    }
    if settled.done == 0 && *which != DeadSelector::All {
        return Err(QueueError::NoSuchDeadLetter {
            which: which.to_string(),
            count: seen,
        }
        .into());
    }
    Ok(settled)
}

fn dead_job(m: &BasicGetMessage) -> Option<DeadJob> {
    let props = &m.delivery.properties;
    let message_id = props.message_id().as_ref().map(|id| id.as_str());
    // Poison messages have no job to rescue; they just stay listed.
    let job = decode_job(&m.delivery.data, &original_routing_key(m), message_id).ok()?;
    Some(DeadJob {
        job,
        envelope: envelope_of(props),
        reason: dead_reason(props.headers().as_ref())
            .unwrap_or_else(|| "it reached the dead-letter queue".into()),
    })
}

async fn republish(
    names: &Names,
    channel: &Channel,
    msg: &BasicGetMessage,
) -> Result<(), QueueError> {
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

/// Whose channel a pass runs on.
enum Lease {
    /// A channel of the caller's own connection, closed at the end.
    Own,
    /// The room's shared channel, held (with its lock) for the pass.
    Shared(OwnedMutexGuard<Room>),
}

/// One pass over the dead-letter queue: messages taken without
/// acknowledgement, a page at a time, from at most what was there when it
/// began. `finish` hands back what was not settled (one nack) and waits
/// until the broker has it; dropped unfinished, the pass closes its
/// channel, which hands everything back too.
struct Pass {
    channel: Channel,
    /// `None` once finished.
    lease: Option<Lease>,
    queue: String,
    /// Messages this pass may still take.
    left: usize,
    /// The last delivery tag taken (the hand-back covers every tag up to it).
    last_tag: Option<u64>,
    /// Taken and not settled.
    held: usize,
}

impl Pass {
    async fn own(broker: &Broker, scan: usize) -> Result<Pass, QueueError> {
        let channel = open_channel(broker).await?;
        Pass::begin(channel, Lease::Own, broker.names(), scan).await
    }

    async fn begin(
        channel: Channel,
        lease: Lease,
        names: &Names,
        scan: usize,
    ) -> Result<Pass, QueueError> {
        let mut pass = Pass {
            channel,
            lease: Some(lease),
            queue: names.dead_queue(),
            left: 0,
            last_tag: None,
            held: 0,
        };
        pass.left = scan.min(pass.count().await?);
        Ok(pass)
    }

    /// Ready messages in the dead queue.
    async fn count(&self) -> Result<usize, QueueError> {
        let declared = self
            .channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(QueueError::broker(format!("inspecting {}", self.queue)))?;
        Ok(usize::try_from(declared.message_count()).unwrap_or(usize::MAX))
    }

    /// Up to `n` more messages (fewer at the end of the pass).
    async fn take(&mut self, n: usize) -> Result<Vec<BasicGetMessage>, QueueError> {
        let mut page = Vec::with_capacity(n.min(self.left).min(1024));
        while page.len() < n && self.left > 0 {
            let got = self
                .channel
                .basic_get(
                    self.queue.as_str().into(),
                    BasicGetOptions { no_ack: false },
                )
                .await
                .map_err(QueueError::broker(format!("reading {}", self.queue)))?;
            let Some(msg) = got else {
                self.left = 0;
                break;
            };
            self.left -= 1;
            self.held += 1;
            self.last_tag = Some(msg.delivery.delivery_tag);
            page.push(msg);
        }
        Ok(page)
    }

    async fn ack(&mut self, msg: &BasicGetMessage) -> Result<(), QueueError> {
        self.channel
            .basic_ack(msg.delivery.delivery_tag, BasicAckOptions::default())
            .await
            .map_err(QueueError::broker("acknowledging a dead letter"))?;
        self.held = self.held.saturating_sub(1);
        Ok(())
    }

    /// Hands back every message taken and not settled (one nack), then
    /// waits until the broker counts them ready again: a quorum queue
    /// applies a return asynchronously, and a reader right after this pass
    /// (another viewer, the rescuer) must find them there.
    async fn hand_back(&mut self) -> Result<(), QueueError> {
        let (held, Some(tag)) = (self.held, self.last_tag) else {
            return Ok(());
        };
        if held == 0 {
            return Ok(());
        }
        let before = self.count().await?;
        self.channel
            .basic_nack(
                tag,
                BasicNackOptions {
                    multiple: true,
                    requeue: true,
                },
            )
            .await
            .map_err(QueueError::broker("handing back dead letters"))?;
        self.held = 0;
        // Others may take letters meanwhile: wait a bounded time only.
        let deadline = tokio::time::Instant::now() + HAND_BACK_WAIT;
        while self.count().await? < before.saturating_add(held) {
            if tokio::time::Instant::now() >= deadline {
                tracing::debug!(held, "dead letters handed back, not yet counted ready");
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Hands back what was not settled; a failure closes the channel
    /// instead (which hands it back too).
    async fn finish(mut self) {
        let handed_back = self.hand_back().await;
        let Some(lease) = self.lease.take() else {
            return;
        };
        match (handed_back, lease) {
            // The shared channel stays open for the next pass.
            (Ok(()), Lease::Shared(room)) => drop(room),
            (Ok(()), Lease::Own) => {
                let close = self.channel.close(200, "done".into());
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
            }
            (Err(e), lease) => {
                tracing::warn!(error = %e,
                    "could not hand dead letters back; closing their channel, which does");
                abandon(self.channel.clone(), lease).await;
            }
        }
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        // Unfinished: a request cut off, or a failure on the way.
        if let Some(lease) = self.lease.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(abandon(self.channel.clone(), lease));
            }
        }
    }
}

/// Closes a pass's channel (the broker hands back its unsettled messages);
/// the room opens a new one for the next pass (a new connection if this
/// one does not answer).
async fn abandon(channel: Channel, lease: Lease) {
    let close = channel.close(200, "dead-letter pass abandoned".into());
    let closed = matches!(tokio::time::timeout(CLOSE_TIMEOUT, close).await, Ok(Ok(())));
    if let Lease::Shared(mut room) = lease {
        room.channel = None;
        if let Some(broker) = room.broker.take().filter(|_| !closed) {
            // The connection does not answer either: the link opens another.
            room.link.lost(&broker);
        }
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
