//! The notification dispatcher: forms deliveries from the outbox (one
//! message, or a digest when several events of a channel wait within
//! `NOTIFY_DIGEST_WINDOW`), sends them (a signed JSON webhook or a Slack
//! message), and records each attempt; a failed one waits (1 s, doubling,
//! at most an hour) and goes again under the same delivery id, until it is
//! `NOTIFY_GIVE_UP_AFTER` old (then it is given up and the channel says
//! why). The outbox row is written with the job's outcome, so a crash
//! before the send loses nothing: the claim runs out and a worker sends it.
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

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::notify::target::{answer_class, DeliveryClient, PinnedResolver};
use crate::notify::{self, Event};
use crate::store::{ClaimLimits, Delivery, Store};

/// The claims of the sends in flight (delivery id, claim id): released
/// when the dispatcher stops before they finish.
type InFlight = Arc<Mutex<HashSet<(uuid::Uuid, uuid::Uuid)>>>;

pub async fn dispatch_notifications(shared: Shared, shutdown: CancellationToken) {
    let settings = shared.settings.notify.clone();
    let resolver = PinnedResolver::new(
        shared.settings.notify_allow_private_targets,
        settings.dns_timeout,
    );
    let client = match DeliveryClient::new(resolver, settings.send_timeout) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e.without_url(), "could not build the notification HTTP client; notifications are off");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let in_flight: InFlight = Arc::default();
    let mut sends: JoinSet<()> = JoinSet::new();
    let mut tick = tokio::time::interval(shared.settings.notify_poll_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            // A send finished: its slot may go to the next delivery now.
            Some(_) = sends.join_next(), if !sends.is_empty() => {}
        }
        while sends.try_join_next().is_some() {}
        let free = slots.available_permits();
        if free == 0 {
            continue;
        }
        let limits = ClaimLimits {
            window: shared.settings.notify_digest_window,
            claim_for: settings.claim_for,
            take: free as i64,
            per_channel: settings.channel_concurrency as i64,
            per_project: settings.project_concurrency as i64,
        };
        let claimed_at = Instant::now();
        let deliveries = match shared.store.claim_deliveries(limits).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the notification outbox");
                continue;
            }
        };
        for delivery in deliveries {
            // Only this loop takes slots, and it claimed no more than were free.
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                release(&shared.store, &delivery).await;
                continue;
            };
            if let Ok(mut held) = in_flight.lock() {
                held.insert((delivery.id, delivery.claim));
            }
            sends.spawn(send_under_claim(
                shared.clone(),
                client.clone(),
                delivery,
                claimed_at,
                slot,
                in_flight.clone(),
            ));
        }
    }
    // Stopping: the sends in flight are cut and their claims let go, so
    // another worker sends them at once rather than after the claim.
    let cut: Vec<_> = in_flight
        .lock()
        .map(|held| held.iter().copied().collect())
        .unwrap_or_default();
    sends.shutdown().await;
    for (delivery_id, claim) in cut {
        if let Err(e) = shared.store.release_claim(delivery_id, claim).await {
            tracing::warn!(%delivery_id, error = %e, "could not release a notification claim");
        }
    }
}

async fn release(store: &Store, delivery: &Delivery) {
    if let Err(e) = store.release_claim(delivery.id, delivery.claim).await {
        tracing::warn!(delivery_id = %delivery.id, error = %e, "could not release a notification claim");
    }
}

/// Sends one delivery while keeping its claim, then records the attempt.
async fn send_under_claim(
    shared: Shared,
    client: DeliveryClient,
    delivery: Delivery,
    claimed_at: Instant,
    _slot: OwnedSemaphorePermit,
    in_flight: InFlight,
) {
    let settings = &shared.settings.notify;
    let lost = CancellationToken::new();
    // Stops extending when this send ends, however it ends (an abort at
    // shutdown included).
    let keeper = AbortOnDrop(tokio::spawn(keep_claim(
        shared.store.clone(),
        delivery.id,
        delivery.claim,
        settings.claim_for,
        claimed_at,
        lost.clone(),
    )));
    let outcome = tokio::select! {
        sent = send(&shared, &client, &delivery) => Some(sent),
        () = lost.cancelled() => None,
    };
    drop(keeper);
    let Some((status, error)) = outcome else {
        // Stopped before the claim ran out: the next holder sends it.
        tracing::warn!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
            "could not keep the claim on a notification; stopped its send, another try will follow");
        forget(&in_flight, &delivery);
        return;
    };
    let retry_at = error.as_ref().map(|_| {
        Utc::now()
            + chrono::Duration::from_std(notify::retry_delay(delivery.attempts))
                .unwrap_or_else(|_| chrono::Duration::hours(1))
    });
    match shared
        .store
        .record_attempt(
            &delivery,
            status,
            error.as_deref(),
            retry_at,
            settings.give_up_after,
        )
        .await
    {
        Ok(gave_up) => match &error {
            Some(e) if gave_up => {
                tracing::warn!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
                    attempt = delivery.attempts + 1, error = %e,
                    "notification not delivered; given up (older than NOTIFY_GIVE_UP_AFTER)")
            }
            Some(e) => {
                tracing::warn!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
                    attempt = delivery.attempts + 1, error = %e, "notification not delivered; will retry")
            }
            None => {
                tracing::info!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
                    events = delivery.events.len(), "notification delivered")
            }
        },
        Err(e) => {
            // The claim runs out and the delivery goes again (same id).
            tracing::warn!(delivery_id = %delivery.id, error = %e, "could not record a notification attempt");
        }
    }
    forget(&in_flight, &delivery);
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
        match tokio::time::timeout(every, store.extend_claim(delivery_id, claim, claim_for)).await {
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

/// Sends one delivery; the HTTP status (if any) and the error (if it failed).
/// Errors name the channel and the cause, never its URL or secret.
async fn send(
    shared: &Shared,
    client: &DeliveryClient,
    delivery: &Delivery,
) -> (Option<i32>, Option<String>) {
    let cipher = &shared.runner.ctx.cipher;
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
    let events: Vec<Event> = delivery
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
            link: shared
                .settings
                .dashboard_url
                .as_ref()
                .map(|base| format!("{base}/syncs/{}", e.sync_id)),
        })
        .collect();
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
