//! `/channels`: the notification channels of the token's projects (never
//! their URLs or secrets), each marked when its deliveries keep failing,
//! with its last delivery attempts. Channels are created and deleted
//! through the API (`/api/v1/notification-channels`).

use axum::extract::State;
use chrono::Utc;
use maud::html;

use super::html::{ago, layout, or};
use super::session::Viewer;
use super::DashResult;
use crate::web::state::ApiState;

/// Attempts shown per channel.
const ATTEMPTS: i64 = 10;

pub async fn page(State(state): State<ApiState>, viewer: Viewer) -> DashResult {
    let now = Utc::now();
    let mut channels = Vec::new();
    for project in &viewer.caller.projects {
        for c in state.store.outbox.channels(project).await? {
            let attempts = state.store.outbox.channel_attempts(c.id, ATTEMPTS).await?;
            channels.push((c, attempts));
        }
    }
    let body = html! {
        div.toolbar { h1 { "Notification channels" } }
        p.muted {
            "Where failures and recoveries of your projects' syncs are sent. Create and delete \
             channels with the API (" code { "POST /api/v1/notification-channels" } "); URLs \
             and secrets are never shown."
        }
        @if channels.is_empty() {
            p.muted #no-channels { "No notification channels yet." }
        }
        @for (c, attempts) in &channels {
            section.card.channel data-channel-id=(c.id) data-failing=(c.failing_since.is_some()) {
                h2 {
                    (c.name) " "
                    span.muted.small { (c.kind) " · " (c.project_id) }
                    " "
                    @if c.failing_since.is_some() {
                        span.badge.badge-failed.channel-state { "failing" }
                    } @else {
                        span.badge.badge-synced.channel-state { "ok" }
                    }
                }
                @if let Some(since) = c.failing_since {
                    p.message.failing {
                        "Deliveries failing since " (ago(Some(since), now)) ": "
                        (or(c.last_error.as_deref(), "unknown error"))
                    }
                }
                @if attempts.is_empty() {
                    p.muted { "Nothing sent yet." }
                } @else {
                    table.attempts {
                        caption.visually-hidden { "Last delivery attempts of " (c.name) }
                        thead { tr { th { "When" } th { "Events" } th { "Answer" } th { "Error" } } }
                        tbody {
                            @for a in attempts {
                                tr {
                                    td { (ago(Some(a.at), now)) }
                                    td { (a.events) }
                                    td { (a.status_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into())) }
                                    td.message { (or(a.error.as_deref(), "")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(super::page(layout(
        "Notification channels",
        "channels",
        Some(&viewer),
        body,
    )))
}
