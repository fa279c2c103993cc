//! Notifications (the pure part): what a delivery says, how a webhook body
//! is signed, an email's settings and text (`email.rs`), and how long a
//! failed delivery waits. The worker's dispatcher
//! (`engine/maintenance/notifier.rs`) sends; `target.rs` refuses internal
//! addresses.

pub mod email;
pub mod smtp;
pub mod target;

use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

/// The header with the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`
/// over `<t>.<body>` with the channel's signing secret.
pub const SIGNATURE_HEADER: &str = "x-secret-sync-signature";
/// The delivery's id (the same on every retry): receivers deduplicate on it.
pub const DELIVERY_HEADER: &str = "x-secret-sync-delivery";

/// One event as a message shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub sync_id: Uuid,
    pub sync_name: String,
    pub project_id: String,
    pub destination: String,
    pub job_id: Uuid,
    pub job_type: String,
    /// `failed` or `recovered`.
    pub event: String,
    /// The job's message: what failed and what to do.
    pub message: String,
    /// The sync's dashboard page, when `DASHBOARD_URL` is set.
    pub link: Option<String>,
}

/// The webhook's JSON body: one event (`type` failed or recovered) or a
/// digest of several.
pub fn webhook_body(delivery_id: Uuid, events: &[Event]) -> Value {
    let kind = match events {
        [one] => one.event.as_str(),
        _ => "digest",
    };
    json!({
        "id": delivery_id,
        "type": kind,
        "summary": summary(events),
        "events": events.iter().map(|e| json!({
            "event": e.event,
            "jobType": e.job_type,
            "syncId": e.sync_id,
            "syncName": e.sync_name,
            "projectId": e.project_id,
            "destination": e.destination,
            "jobId": e.job_id,
            "message": e.message,
            "link": e.link,
        })).collect::<Vec<_>>(),
    })
}

/// A Slack incoming webhook's body (`text`, mrkdwn).
pub fn slack_body(events: &[Event]) -> Value {
    let mut lines = vec![format!("*{}*", summary(events))];
    for e in events.iter().take(50) {
        let name = match &e.link {
            Some(link) => format!("<{link}|{}>", e.sync_name),
            None => e.sync_name.clone(),
        };
        lines.push(format!(
            "• {} {} ({}, {}): {}",
            name, e.event, e.project_id, e.destination, e.message
        ));
    }
    if events.len() > 50 {
        lines.push(format!("… and {} more", events.len() - 50));
    }
    json!({ "text": lines.join("\n") })
}

/// One line saying what a delivery holds (a Slack message's first line,
/// an email's subject).
pub(crate) fn summary(events: &[Event]) -> String {
    match events {
        [e] if e.event == "failed" => format!(
            "secret sync {} {} failed in project {}",
            e.sync_name, e.job_type, e.project_id
        ),
        [e] => format!(
            "secret sync {} {} recovered in project {}",
            e.sync_name, e.job_type, e.project_id
        ),
        _ => {
            let failed = events.iter().filter(|e| e.event == "failed").count();
            format!(
                "{} secret sync changes: {failed} failed, {} recovered",
                events.len(),
                events.len() - failed
            )
        }
    }
}

/// `t=<timestamp>,v1=<hex>`: HMAC-SHA256 of `<timestamp>.<body>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// The wait after the `attempts`-th failed attempt: 1 s, doubling, at most
/// an hour.
pub fn retry_delay(attempts: i32) -> Duration {
    let exp = attempts.clamp(0, 12) as u32;
    Duration::from_secs(2u64.pow(exp)).min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, kind: &str) -> Event {
        Event {
            sync_id: Uuid::nil(),
            sync_name: name.into(),
            project_id: "p".into(),
            destination: "org/app".into(),
            job_id: Uuid::nil(),
            job_type: "sync".into(),
            event: kind.into(),
            message: "Failed: the token was rejected".into(),
            link: Some("https://dash/syncs/x".into()),
        }
    }

    #[test]
    fn one_event_is_its_own_type_and_many_are_a_digest() {
        let id = Uuid::nil();
        assert_eq!(webhook_body(id, &[event("a", "failed")])["type"], "failed");
        let many: Vec<Event> = (0..200)
            .map(|i| event(&format!("s{i}"), "failed"))
            .collect();
        let body = webhook_body(id, &many);
        assert_eq!(body["type"], "digest");
        assert_eq!(body["events"].as_array().map(Vec::len), Some(200));
        let slack = slack_body(&many);
        let text = slack["text"].as_str().unwrap_or_default();
        assert!(text.contains("200 secret sync changes: 200 failed") && text.contains("150 more"));
    }

    #[test]
    fn the_signature_is_the_documented_hmac() {
        // echo -n '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature(b"secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    #[test]
    fn retries_double_from_a_second_to_an_hour() {
        assert_eq!(retry_delay(0), Duration::from_secs(1));
        assert_eq!(retry_delay(3), Duration::from_secs(8));
        assert_eq!(retry_delay(40), Duration::from_secs(3600));
    }
}
