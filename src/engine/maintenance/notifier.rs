//! The notification dispatcher: forms deliveries from the outbox (one
//! message, or a digest when several events of a channel wait within
//! `NOTIFY_DIGEST_WINDOW`), sends them (a signed JSON webhook, a Slack
//! message, or one email over SMTP), and records each attempt; a failed
//! one waits (1 s, doubling, at most an hour) and goes again under the same
//! delivery id, until it is `NOTIFY_GIVE_UP_AFTER` old (then it is given up
//! and the channel says why). An email the server refuses for good (a 5xx
//! such as wrong credentials) is given up at once: another try would fail
//! the same way. The outbox row is written with the job's outcome, so a
//! crash before the send loses nothing: the claim runs out and a worker
//! sends it.
//!
//! Fair and bounded: up to `NOTIFY_CONCURRENCY` sends run at once, each
//! under `NOTIFY_SEND_TIMEOUT` (DNS lookup included, itself under
//! `NOTIFY_DNS_TIMEOUT`); claims are round-robin across projects and
//! channels and capped per channel and per project
//! (`store::ClaimLimits`), so one project's slow receivers hold at most
//! its share of the slots and another project's delivery waits at most one
//! send timeout. A claim is extended while its send runs; a send whose
//! claim cannot be kept is stopped before the claim runs out, so no other
//! worker sends a delivery while it is claimed.
//!
//! A round claims what the free slots allow and starts those sends. In the
//! loop the sends run on while later rounds claim more (a send that ends
//! frees its slot for the next round at once); [`Notifier::run_once`]
//! waits for its round's sends, so that it can say what became of them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{next_tick, ticker, unless_stopped, ConfigError, LoopHandle, TestSignal};
use crate::config::{NotifySettings, Settings};
use crate::crypto::Cipher;
use crate::notify::email::{self, EmailSettings, StoredEmail};
use crate::notify::smtp::{SendError, SmtpSender};
use crate::notify::target::{answer_class, DeliveryClient, PinnedResolver};
use crate::notify::{self, Event};
use crate::store::{ClaimLimits, Delivery, Store, StoreError};

const SERVICE: &str = "notifier";

#[derive(Clone, Debug)]
pub struct NotifierConfig {
    /// How often the outbox is looked in (`NOTIFY_POLL_EVERY`); the first
    /// look is at once.
    pub poll_every: Duration,
    /// Events of a channel wait this long for others to join them in one
    /// digest (`NOTIFY_DIGEST_WINDOW`).
    pub digest_window: Duration,
    /// Lets channels target loopback and private addresses
    /// (`NOTIFY_ALLOW_PRIVATE_TARGETS`).
    pub allow_private_targets: bool,
    /// Where the dashboard is, for links in messages (`DASHBOARD_URL`).
    pub dashboard_url: Option<String>,
    /// Concurrency, deadlines, claims and giving up (`NOTIFY_*`).
    pub notify: NotifySettings,
}

impl NotifierConfig {
    pub fn from_settings(settings: &Settings) -> NotifierConfig {
        NotifierConfig {
            poll_every: settings.notify_poll_every,
            digest_window: settings.notify_digest_window,
            allow_private_targets: settings.notify_allow_private_targets,
            dashboard_url: settings.dashboard_url.clone(),
            notify: settings.notify.clone(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let n = &self.notify;
        ConfigError::zero(SERVICE, "period (NOTIFY_POLL_EVERY)", self.poll_every)?;
        ConfigError::zero(
            SERVICE,
            "send deadline (NOTIFY_SEND_TIMEOUT)",
            n.send_timeout,
        )?;
        ConfigError::zero(SERVICE, "DNS deadline (NOTIFY_DNS_TIMEOUT)", n.dns_timeout)?;
        // A claim is extended every third of its length: a third must be
        // a period a timer can wait.
        if n.claim_for < Duration::from_millis(3) {
            return Err(ConfigError {
                service: SERVICE,
                field: "claim length (NOTIFY_CLAIM_FOR)",
                problem: format!("must be at least 3ms, got {:?}", n.claim_for),
            });
        }
        // No slots would mean nothing is ever sent.
        ConfigError::at_least(
            SERVICE,
            "concurrency (NOTIFY_CONCURRENCY)",
            n.concurrency as u64,
            1,
        )?;
        ConfigError::at_least(
            SERVICE,
            "per-channel concurrency (NOTIFY_CHANNEL_CONCURRENCY)",
            n.channel_concurrency as u64,
            1,
        )?;
        ConfigError::at_least(
            SERVICE,
            "per-project concurrency (NOTIFY_PROJECT_CONCURRENCY)",
            n.project_concurrency as u64,
            1,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Its text names no URL.
    #[error("could not build the notification HTTP client: {0}")]
    Client(String),
}

/// What became of one send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// The receiver took it (2xx); recorded.
    Delivered {
        delivery_id: uuid::Uuid,
        events: usize,
    },
    /// It failed (recorded, with the class of the failure); it goes again
    /// later under the same id, unless it was given up.
    Failed {
        delivery_id: uuid::Uuid,
        error: String,
        gave_up: bool,
    },
    /// Sent or not, the attempt could not be recorded (logged): the claim
    /// runs out and it goes again under the same id.
    NotRecorded { delivery_id: uuid::Uuid },
    /// The claim could not be kept: the send was stopped before it ran out.
    ClaimLost { delivery_id: uuid::Uuid },
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispatchRound {
    /// Deliveries claimed (and sends started).
    pub claimed: usize,
    /// What became of this round's sends ([`Notifier::run_once`] only:
    /// in the loop, each send reports on its own, see [`TestSignals`]).
    pub sent: Vec<Sent>,
}

impl DispatchRound {
    pub fn delivered(&self) -> usize {
        let delivered = |s: &&Sent| matches!(s, Sent::Delivered { .. });
        self.sent.iter().filter(delivered).count()
    }
}

#[derive(Clone, Debug, Default)]
pub struct TestSignals {
    /// Every round's outcome, once its sends are started.
    pub round_done: TestSignal<Result<DispatchRound, StoreError>>,
    /// Every send's outcome, once it is recorded (or not).
    pub sent: TestSignal<Sent>,
}

/// The claims of the sends in flight (delivery id, claim id): released
/// when the dispatcher stops before they finish.
type InFlight = Arc<Mutex<HashSet<(uuid::Uuid, uuid::Uuid)>>>;

pub struct Notifier {
    inner: Arc<Inner>,
    slots: Arc<Semaphore>,
    in_flight: InFlight,
    signals: TestSignals,
}

/// What a send needs, shared with the tasks that run them.
struct Inner {
    config: NotifierConfig,
    store: Store,
    cipher: Cipher,
    client: DeliveryClient,
    smtp: SmtpSender,
}

impl Notifier {
    /// Decrypts channels' URLs and secrets with `cipher`.
    pub fn new(
        config: NotifierConfig,
        store: Store,
        cipher: Cipher,
    ) -> Result<Notifier, NotifierError> {
        config.validate()?;
        let resolver = PinnedResolver::new(config.allow_private_targets, config.notify.dns_timeout);
        let client = DeliveryClient::new(resolver.clone(), config.notify.send_timeout)
            .map_err(|e| NotifierError::Client(e.without_url().to_string()))?;
        let smtp = SmtpSender::new(
            resolver,
            config.notify.send_timeout,
            config
                .notify
                .smtp_ca
                .as_ref()
                .map(|ca| ca.certs.clone())
                .unwrap_or_default(),
        );
        Ok(Notifier {
            slots: Arc::new(Semaphore::new(config.notify.concurrency)),
            in_flight: InFlight::default(),
            inner: Arc::new(Inner {
                config,
                store,
                cipher,
                client,
                smtp,
            }),
            signals: TestSignals::default(),
        })
    }

    pub fn with_test_signals(mut self, signals: TestSignals) -> Notifier {
        self.signals = signals;
        self
    }

    /// One round, to its end: claims what the free slots allow, sends it,
    /// and waits for the sends; returns what became of each.
    pub async fn run_once(&self) -> Result<DispatchRound, StoreError> {
        let mut sends = JoinSet::new();
        let mut round = DispatchRound {
            claimed: self.claim_and_send(&mut sends).await?,
            sent: Vec::new(),
        };
        while let Some(done) = sends.join_next().await {
            if let Ok(sent) = done {
                round.sent.push(sent);
            }
        }
        Ok(round)
    }

    /// Claims up to the free slots' worth of deliveries and starts their
    /// sends in `sends`; returns how many.
    async fn claim_and_send(&self, sends: &mut JoinSet<Sent>) -> Result<usize, StoreError> {
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let notify = &self.inner.config.notify;
        let limits = ClaimLimits {
            window: self.inner.config.digest_window,
            claim_for: notify.claim_for,
            take: free as i64,
            per_channel: notify.channel_concurrency as i64,
            per_project: notify.project_concurrency as i64,
        };
        let claimed_at = Instant::now();
        let deliveries = self.inner.store.outbox.claim_deliveries(limits).await?;
        let claimed = deliveries.len();
        for delivery in deliveries {
            // Only the dispatcher takes slots, and it claimed no more than were free.
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                release(&self.inner.store, &delivery).await;
                continue;
            };
            if let Ok(mut held) = self.in_flight.lock() {
                held.insert((delivery.id, delivery.claim));
            }
            sends.spawn(send_under_claim(
                self.inner.clone(),
                delivery,
                claimed_at,
                slot,
                self.in_flight.clone(),
            ));
        }
        Ok(claimed)
    }

    /// Looks in the outbox at once, then every `poll_every` and whenever a
    /// send ends, until stopped; then cuts the sends in flight and lets go
    /// of their claims, so another worker sends them at once rather than
    /// after the claim.
    pub fn start(self, shutdown: &CancellationToken) -> LoopHandle {
        LoopHandle::spawn(SERVICE, shutdown, |stop| async move {
            let mut sends: JoinSet<Sent> = JoinSet::new();
            let mut tick = ticker(Duration::ZERO, self.inner.config.poll_every);
            loop {
                tokio::select! {
                    go_on = next_tick(&mut tick, &stop) => if !go_on { break },
                    // A send finished: its slot may go to the next delivery now.
                    Some(done) = sends.join_next(), if !sends.is_empty() => {
                        if let Ok(sent) = done {
                            self.signals.sent.send(sent);
                        }
                    }
                }
                while let Some(done) = sends.try_join_next() {
                    if let Ok(sent) = done {
                        self.signals.sent.send(sent);
                    }
                }
                let Some(claimed) = unless_stopped(&stop, self.claim_and_send(&mut sends)).await
                else {
                    break;
                };
                if let Err(e) = &claimed {
                    tracing::warn!(error = %e, "could not read the notification outbox");
                }
                let round = claimed.map(|claimed| DispatchRound {
                    claimed,
                    sent: Vec::new(),
                });
                self.signals.round_done.send(round);
            }
            self.stop_sends(sends).await;
        })
    }

    /// Cuts the sends in flight and releases their claims.
    async fn stop_sends(&self, mut sends: JoinSet<Sent>) {
        let cut: Vec<_> = self
            .in_flight
            .lock()
            .map(|held| held.iter().copied().collect())
            .unwrap_or_default();
        sends.shutdown().await;
        for (delivery_id, claim) in cut {
            if let Err(e) = self
                .inner
                .store
                .outbox
                .release_claim(delivery_id, claim)
                .await
            {
                tracing::warn!(%delivery_id, error = %e, "could not release a notification claim");
            }
        }
    }
}

async fn release(store: &Store, delivery: &Delivery) {
    if let Err(e) = store
        .outbox
        .release_claim(delivery.id, delivery.claim)
        .await
    {
        tracing::warn!(delivery_id = %delivery.id, error = %e, "could not release a notification claim");
    }
}

/// Sends one delivery while keeping its claim, then records the attempt.
async fn send_under_claim(
    inner: Arc<Inner>,
    delivery: Delivery,
    claimed_at: Instant,
    _slot: OwnedSemaphorePermit,
    in_flight: InFlight,
) -> Sent {
    let settings = &inner.config.notify;
    let delivery_id = delivery.id;
    let lost = CancellationToken::new();
    // Stops extending when this send ends, however it ends (an abort at
    // shutdown included).
    let keeper = AbortOnDrop(tokio::spawn(keep_claim(
        inner.store.clone(),
        delivery.id,
        delivery.claim,
        settings.claim_for,
        claimed_at,
        lost.clone(),
    )));
    let outcome = tokio::select! {
        sent = send(&inner, &delivery) => Some(sent),
        () = lost.cancelled() => None,
    };
    drop(keeper);
    let Some(Outcome {
        status,
        error,
        permanent,
    }) = outcome
    else {
        // Stopped before the claim ran out: the next holder sends it.
        tracing::warn!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
            "could not keep the claim on a notification; stopped its send, another try will follow");
        forget(&in_flight, &delivery);
        return Sent::ClaimLost { delivery_id };
    };
    let retry_at = error.as_ref().map(|_| {
        Utc::now()
            + chrono::Duration::from_std(notify::retry_delay(delivery.attempts))
                .unwrap_or_else(|_| chrono::Duration::hours(1))
    });
    let sent = match inner
        .store
        .outbox
        .record_attempt(
            &delivery,
            status,
            error.as_deref(),
            retry_at,
            settings.give_up_after,
            permanent,
        )
        .await
    {
        Ok(gave_up) => match error {
            Some(e) if gave_up => {
                tracing::warn!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
                    attempt = delivery.attempts + 1, error = %e, permanent,
                    "notification not delivered; given up (refused for good, or older than NOTIFY_GIVE_UP_AFTER)");
                Sent::Failed {
                    delivery_id,
                    error: e,
                    gave_up,
                }
            }
            Some(e) => {
                tracing::warn!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
                    attempt = delivery.attempts + 1, error = %e, "notification not delivered; will retry");
                Sent::Failed {
                    delivery_id,
                    error: e,
                    gave_up,
                }
            }
            None => {
                tracing::info!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
                    events = delivery.events.len(), "notification delivered");
                Sent::Delivered {
                    delivery_id,
                    events: delivery.events.len(),
                }
            }
        },
        Err(e) => {
            // The claim runs out and the delivery goes again (same id).
            tracing::warn!(delivery_id = %delivery.id, error = %e, "could not record a notification attempt");
            Sent::NotRecorded { delivery_id }
        }
    };
    forget(&in_flight, &delivery);
    sent
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn forget(in_flight: &InFlight, delivery: &Delivery) {
    if let Ok(mut held) = in_flight.lock() {
        held.remove(&(delivery.id, delivery.claim));
    }
}

/// Extends the claim every third of its length while the send runs.
/// Cancels `lost` when the claim is another's, or when it could not be
/// extended and less than a third of it is left: the send stops before
/// the claim runs out, so nobody else sends the delivery meanwhile.
async fn keep_claim(
    store: Store,
    delivery_id: uuid::Uuid,
    claim: uuid::Uuid,
    claim_for: Duration,
    claimed_at: Instant,
    lost: CancellationToken,
) {
    let every = claim_for / 3;
    let mut held_until = claimed_at + claim_for;
    loop {
        tokio::time::sleep(every).await;
        let asked = Instant::now();
        match tokio::time::timeout(
            every,
            store.outbox.extend_claim(delivery_id, claim, claim_for),
        )
        .await
        {
            Ok(Ok(true)) => held_until = asked + claim_for,
            Ok(Ok(false)) => {
                lost.cancel();
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(%delivery_id, error = %e, "could not extend a notification claim")
            }
            Err(_) => tracing::warn!(%delivery_id, "extending a notification claim timed out"),
        }
        if Instant::now() + every >= held_until {
            lost.cancel();
            return;
        }
    }
}

/// What one send came to: the HTTP status or SMTP reply code (if any),
/// the error (if it failed), and whether another try would fail the same
/// way (an SMTP 5xx).
struct Outcome {
    status: Option<i32>,
    error: Option<String>,
    permanent: bool,
}

impl From<(Option<i32>, Option<String>)> for Outcome {
    fn from((status, error): (Option<i32>, Option<String>)) -> Outcome {
        Outcome {
            status,
            error,
            permanent: false,
        }
    }
}

/// Sends one delivery. Errors name the channel's problem and its cause,
/// never its URL, password or secret.
async fn send(inner: &Inner, delivery: &Delivery) -> Outcome {
    match delivery.channel.kind.as_str() {
        "email" => send_email(inner, delivery).await,
        _ => send_http(inner, delivery).await.into(),
    }
}

/// The delivery's events as messages show them.
fn events(inner: &Inner, delivery: &Delivery) -> Vec<Event> {
    delivery
        .events
        .iter()
        .map(|e| Event {
            sync_id: e.sync_id,
            sync_name: e
                .sync_name
                .clone()
                .unwrap_or_else(|| format!("{} (deleted)", e.sync_id)),
            project_id: delivery.channel.project_id.clone(),
            destination: e
                .destination
                .as_ref()
                .map(destination_label)
                .unwrap_or_default(),
            job_id: e.job_id,
            job_type: e.job_type.clone(),
            event: e.event.clone(),
            message: e.message.clone(),
            link: inner
                .config
                .dashboard_url
                .as_ref()
                .map(|base| format!("{base}/syncs/{}", e.sync_id)),
        })
        .collect()
}

/// One email with every event of the delivery (a digest is one email).
async fn send_email(inner: &Inner, delivery: &Delivery) -> Outcome {
    let channel = &delivery.channel;
    let at = |column| crate::crypto::Aad::new(&channel.project_id, column);
    let failed = |error: String, permanent: bool| Outcome {
        status: None,
        error: Some(error),
        permanent,
    };
    let server = match inner.cipher.decrypt_string(
        &channel.encrypted_url,
        at(crate::crypto::Column::ChannelUrl),
    ) {
        Ok(u) => u,
        Err(e) => {
            return failed(
                format!("the channel's server cannot be decrypted: {e}"),
                false,
            )
        }
    };
    let stored = channel
        .email
        .clone()
        .and_then(|v| serde_json::from_value::<StoredEmail>(v).ok());
    let Some(settings) = stored.and_then(|s| EmailSettings::from_parts(&server, s)) else {
        return failed(
            format!(
                "the channel's email settings are unreadable; set them again (PATCH \
                 /api/v1/notification-channels/{})",
                channel.id
            ),
            true,
        );
    };
    let password = match channel.encrypted_secret.as_deref() {
        Some(s) => match inner
            .cipher
            .decrypt_string(s, at(crate::crypto::Column::ChannelSecret))
        {
            Ok(p) => Some(secrecy::SecretString::from(p)),
            Err(e) => {
                return failed(
                    format!("the channel's SMTP password cannot be decrypted: {e}"),
                    false,
                )
            }
        },
        None => None,
    };
    let (subject, body) = email::message(&channel.name, &events(inner, delivery));
    match inner
        .smtp
        .send(&settings, password.as_ref(), delivery.id, subject, body)
        .await
    {
        Ok(code) => Outcome {
            status: Some(i32::from(code)),
            error: None,
            permanent: false,
        },
        Err(SendError::Refused(why)) => failed(why, false),
        Err(SendError::Settings(why)) => failed(
            format!(
                "{why}; set the channel's settings again (PATCH /api/v1/notification-channels/{})",
                channel.id
            ),
            true,
        ),
        Err(SendError::Smtp(failure)) => {
            let (text, permanent) = email::describe(failure, &settings.host);
            let status = match failure {
                email::SmtpFailure::Reply(code) => Some(i32::from(code)),
                _ => None,
            };
            Outcome {
                status,
                error: Some(text),
                permanent,
            }
        }
    }
}

/// A webhook or Slack delivery; the HTTP status (if any) and the error (if
/// it failed).
async fn send_http(inner: &Inner, delivery: &Delivery) -> (Option<i32>, Option<String>) {
    let cipher = &inner.cipher;
    let client = &inner.client;
    let channel = &delivery.channel;
    let at = |column| crate::crypto::Aad::new(&channel.project_id, column);
    let url = match cipher.decrypt_string(
        &channel.encrypted_url,
        at(crate::crypto::Column::ChannelUrl),
    ) {
        Ok(u) => u,
        Err(e) => {
            return (
                None,
                Some(format!("the channel's URL cannot be decrypted: {e}")),
            )
        }
    };
    // Checked again here (a literal address), and by the pinned resolver
    // when it connects (a name): never a second lookup.
    let mut request = match client.post(&url, &delivery.channel.kind) {
        Ok(r) => r.header("content-type", "application/json"),
        Err(e) => return (None, Some(format!("refused to send: {e}"))),
    };
    let events = events(inner, delivery);
    let body = if delivery.channel.kind == "slack" {
        notify::slack_body(&events).to_string()
    } else {
        let body = notify::webhook_body(delivery.id, &events).to_string();
        let secret = match delivery.channel.encrypted_secret.as_deref() {
            Some(s) => match cipher.decrypt_string(s, at(crate::crypto::Column::ChannelSecret)) {
                Ok(s) => s,
                Err(e) => {
                    return (
                        None,
                        Some(format!("the channel's secret cannot be decrypted: {e}")),
                    )
                }
            },
            None => String::new(),
        };
        let signature =
            notify::signature(secret.as_bytes(), Utc::now().timestamp(), body.as_bytes());
        request = request
            .header(notify::SIGNATURE_HEADER, signature)
            .header(notify::DELIVERY_HEADER, delivery.id.to_string());
        body
    };
    // What is recorded and shown is the class of the outcome: the status
    // code of an address that passed the filter, never a connect error's
    // text, an address or the URL.
    match request.body(body).send().await {
        Ok(resp) if resp.status().is_success() => (Some(i32::from(resp.status().as_u16())), None),
        Ok(resp) => {
            let code = resp.status().as_u16();
            (Some(i32::from(code)), Some(answer_class(code)))
        }
        Err(e) => (None, Some(client.failure(&e))),
    }
}

/// `org/app` or `org/app/env` from a destination config.
fn destination_label(d: &serde_json::Value) -> String {
    let part = |k: &str| d[k].as_str().unwrap_or_default().to_string();
    match d["env"].as_str() {
        Some(env) => format!("{}/{}/{env}", part("org"), part("app")),
        None => format!("{}/{}", part("org"), part("app")),
    }
}
