//! `/channels`: the notification channels of the token's projects (never
//! their URLs or secrets), each marked when its deliveries keep failing,
//! with its last delivery attempts; an email channel with its server,
//! sender and recipients, its password only as set, and (for write
//! tokens) a form to set its SMTP password: the fix for a wrong one shown
//! on the card. Other settings change through the API. Channels are created and deleted
//! through the API (`/api/v1/notification-channels`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use chrono::Utc;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::html::{ago, csrf_field, layout, or};
use super::session::Viewer;
use super::{DashError, DashResult};
use crate::crypto::{Aad, Column};
use crate::notify::email::check_credential;
use crate::web::limits::Spend;
use crate::web::state::ApiState;

/// Attempts shown per channel.
const ATTEMPTS: i64 = 10;

pub async fn page(State(state): State<ApiState>, viewer: Viewer) -> DashResult {
    let now = Utc::now();
    let mut channels = Vec::new();
    for project in &viewer.caller.projects {
        for c in state.store.outbox.channels(project).await? {
            let attempts = state.store.outbox.channel_attempts(c.id, ATTEMPTS).await?;
            let email = state.email_settings(&c);
            channels.push((c, attempts, email));
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
        @for (c, attempts, email) in &channels {
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
                @if let Some(e) = email {
                    dl.email-settings {
                        dt { "SMTP server" }
                        dd { (e.host) ":" (e.port) " (" (e.security.as_str()) ")" }
                        dt { "From" }
                        dd { (e.from) }
                        dt { "To" }
                        dd { (e.to.join(", ")) }
                        dt { "Username" }
                        dd { (or(e.username.as_deref(), "none (no SMTP AUTH)")) }
                        dt { "Password" }
                        dd.password-state {
                            @if c.encrypted_secret.is_some() { "set (never shown)" } @else { "none" }
                        }
                    }
                    @if viewer.can_write() && e.username.is_some() {
                        form.inline.set-password method="post" action={ "/channels/" (c.id) "/password" } {
                            (csrf_field(&viewer))
                            label for={ "password-" (c.id) } { "New SMTP password" }
                            " "
                            input type="password" id={ "password-" (c.id) } name="password"
                                autocomplete="new-password" required maxlength="1024";
                            " "
                            button type="submit" { "Set password" }
                        }
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
                        thead { tr { th { "When" } th { "Events" } th { "Answer (HTTP or SMTP code)" } th { "Error" } } }
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

/// The password form's fields. Not `Debug`: it holds the password.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

fn no_channel() -> DashError {
    DashError::not_found("no such notification channel in the projects this token may see")
}

/// Sets an email channel's SMTP password, as the API's `PATCH` does with
/// only the password changed: stored encrypted, audited, the channel's
/// failing state cleared (the next delivery tells). Passes the checks of
/// every dashboard action (same origin, CSRF, write role on the project).
pub async fn set_password(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<PasswordForm>,
) -> DashResult {
    let id = Uuid::parse_str(&id).map_err(|_| no_channel())?;
    state.limits.check(Spend::Write, viewer.caller.token_id)?;
    let channel = state
        .store
        .outbox
        .channel(id)
        .await?
        .filter(|c| viewer.caller.sees(&c.project_id))
        .ok_or_else(no_channel)?;
    viewer.check_action(&state, &headers, &form.csrf, Some(&channel.project_id))?;
    let bad = |m: String| DashError::new(StatusCode::BAD_REQUEST, m);
    let Some(settings) = state.email_settings(&channel) else {
        return Err(bad("only an email channel has an SMTP password".into()));
    };
    if settings.username.is_none() {
        return Err(bad(
            "this channel sends without SMTP AUTH; give it a username and password with \
             the API (PATCH /api/v1/notification-channels/{channelId})"
                .into(),
        ));
    }
    check_credential("password", &form.password, 1024).map_err(|e| bad(e.to_string()))?;
    let secret = state.cipher.encrypt_str(
        &form.password,
        Aad::new(&channel.project_id, Column::ChannelSecret),
    );
    let email = channel.email.clone().unwrap_or_default();
    let audit = viewer
        .caller
        .audit("channel.update", "channel", &channel.project_id)
        .target(channel.id)
        .changes(["email.password"]);
    state
        .store
        .outbox
        .update_email_channel(
            channel.id,
            &channel.encrypted_url,
            Some(&secret),
            &email,
            &[audit],
        )
        .await?
        .ok_or_else(no_channel)?;
    tracing::info!(channel_id = %channel.id, project_id = %channel.project_id,
        "dashboard set a notification channel's SMTP password");
    Ok(Redirect::to("/channels").into_response())
}
