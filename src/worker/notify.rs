//! The notification dispatcher: forms deliveries from the outbox (one
//! message, or a digest when several events of a channel wait within
//! `NOTIFY_DIGEST_WINDOW`), sends them (a signed JSON webhook or a Slack
//! message), and records each attempt; a failed one waits (1 s, doubling,
//! at most an hour) and goes again under the same delivery id. The outbox
//! row is written with the job's outcome, so a crash before the send loses
//! nothing: the claim runs out and a worker sends it.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::notify::{self, target::check_target, Event};
use crate::store::Delivery;

/// A claimed delivery is another worker's to retry after this.
const CLAIM_FOR: Duration = Duration::from_secs(60);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const BATCH: i64 = 20;

pub async fn dispatch_notifications(shared: Shared, shutdown: CancellationToken) {
    let http = match reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("secret-sync notifications")
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "could not build the notification HTTP client; notifications are off");
            return;
        }
    };
    let mut tick = tokio::time::interval(shared.settings.notify_poll_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let window = shared.settings.notify_digest_window;
        let deliveries = match shared
            .store
            .claim_deliveries(window, CLAIM_FOR, BATCH)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the notification outbox");
                continue;
            }
        };
        for delivery in deliveries {
            let (status, error) = send(&shared, &http, &delivery).await;
            let retry_at = error.as_ref().map(|_| {
                Utc::now()
                    + chrono::Duration::from_std(notify::retry_delay(delivery.attempts))
                        .unwrap_or_else(|_| chrono::Duration::hours(1))
            });
            if let Some(e) = &error {
                tracing::warn!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
                    attempt = delivery.attempts + 1, error = %e, "notification not delivered; will retry");
            } else {
                tracing::info!(channel_id = %delivery.channel.id, delivery_id = %delivery.id,
                    events = delivery.events.len(), "notification delivered");
            }
            if let Err(e) = shared
                .store
                .record_attempt(&delivery, status, error.as_deref(), retry_at)
                .await
            {
                // The claim runs out and the delivery goes again (same id).
                tracing::warn!(delivery_id = %delivery.id, error = %e, "could not record a notification attempt");
            }
        }
    }
}

/// Sends one delivery; the HTTP status (if any) and the error (if it failed).
/// Errors name the channel and the cause, never its URL or secret.
async fn send(
    shared: &Shared,
    http: &reqwest::Client,
    delivery: &Delivery,
) -> (Option<i32>, Option<String>) {
    let cipher = &shared.runner.ctx.cipher;
    let url = match cipher.decrypt_string(&delivery.channel.encrypted_url) {
        Ok(u) => u,
        Err(e) => {
            return (
                None,
                Some(format!("the channel's URL cannot be decrypted: {e}")),
            )
        }
    };
    if let Err(e) = check_target(&url, shared.settings.notify_allow_private_targets).await {
        return (None, Some(format!("refused to send: {e}")));
    }
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
    let mut request = http.post(&url).header("content-type", "application/json");
    let body = if delivery.channel.kind == "slack" {
        notify::slack_body(&events).to_string()
    } else {
        let body = notify::webhook_body(delivery.id, &events).to_string();
        let secret = match delivery.channel.encrypted_secret.as_deref() {
            Some(s) => match cipher.decrypt_string(s) {
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
    match request.body(body).send().await {
        Ok(resp) if resp.status().is_success() => (Some(i32::from(resp.status().as_u16())), None),
        Ok(resp) => {
            let code = resp.status().as_u16();
            (
                Some(i32::from(code)),
                Some(format!("the receiver answered HTTP {code}")),
            )
        }
        Err(e) => (
            None,
            Some(if e.is_timeout() {
                format!("no answer within {}s", SEND_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "could not connect to the receiver".to_string()
            } else {
                "the request failed".to_string()
            }),
        ),
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
