//! `/api/v1/notification-channels`: where a project's sync failures and
//! recoveries are sent (a signed JSON webhook, or a Slack incoming
//! webhook, or email through the team's SMTP server). The URL, signing
//! secret and SMTP password are stored encrypted and never returned after
//! creation; a webhook's secret is shown once, when made. An email
//! channel's settings are checked field by field (`notify::email`); its
//! host and recipients are shown, its password only as set.
//! Targets resolving to loopback, link-local, private or otherwise
//! non-public addresses are refused unless the operator allows them
//! (`notify::target`); a `slack` channel only to `https://hooks.slack.com/`;
//! a project has at most `NOTIFY_MAX_CHANNELS_PER_PROJECT` channels.

use axum::extract::{Path, State};
use axum::Json;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::syncs::require_project;
use super::validation::{
    check_field, check_slug, path_uuid, provided, RequestBody, ValidJson, ValidQuery,
};
use crate::crypto::{Aad, Column};
use crate::notify::email::{self, EmailInput, EmailSettings};
use crate::notify::target::PinnedResolver;
use crate::store::{AttemptRecord, ChannelInsert, ChannelRecord};
use crate::web::auth::{Caller, Role};
use crate::web::errors::{shorten, ApiError, ApiResult};
use crate::web::limits::Spend;
use crate::web::state::ApiState;

/// Not `Debug`: it holds the URL and the secret.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateChannel {
    project_id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    signing_secret: Option<String>,
    email: Option<EmailBody>,
}

/// An email channel's settings as a create request gives them. Not
/// `Debug`: it holds the password.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailBody {
    host: String,
    port: Option<u16>,
    security: Option<String>,
    username: Option<String>,
    password: Option<String>,
    from: String,
    to: Vec<String>,
}

impl RequestBody for CreateChannel {
    const OPERATION: &'static str = "createNotificationChannel";
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    project_id: String,
}

/// An email channel's settings as shown: host, port and security from its
/// encrypted server URL, the rest as stored; the password only as set.
fn email_json(state: &ApiState, c: &ChannelRecord) -> Option<Value> {
    let s = state.email_settings(c)?;
    Some(json!({
        "host": s.host,
        "port": s.port,
        "security": s.security.as_str(),
        "username": s.username,
        "from": s.from,
        "to": s.to,
        "passwordSet": c.encrypted_secret.is_some(),
    }))
}

fn channel_json(state: &ApiState, c: &ChannelRecord) -> Value {
    let mut shown = plain_json(c);
    if let Some(email) = email_json(state, c) {
        shown["email"] = email;
    }
    shown
}

fn plain_json(c: &ChannelRecord) -> Value {
    json!({
        "id": c.id,
        "projectId": c.project_id,
        "name": c.name,
        "type": c.kind,
        "createdAt": c.created_at,
        "failing": c.failing_since.is_some(),
        "failingSince": c.failing_since,
        "lastError": c.last_error,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("notification channel {} not found", shorten(id)))
}

pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ValidJson(body): ValidJson<CreateChannel>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    check_slug("name", &body.name)?;
    check_field("projectId", &body.project_id, false)?;
    caller.require(&body.project_id, Role::Write)?;
    require_project(&state, &body.project_id).await?;
    // The same resolver and filter the worker connects through; the error
    // says what class of problem, never an address the name resolved to.
    let resolver = PinnedResolver::new(
        state.dashboard.allow_private_targets,
        state.dashboard.notify.dns_timeout,
    );
    let project = body.project_id.as_str();
    let (target, secret, shown, email) = if body.kind == "email" {
        for (field, given) in [
            ("url", body.url.is_some()),
            ("signingSecret", body.signing_secret.is_some()),
        ] {
            if given {
                return Err(ApiError::bad_request(format!(
                    "{field} is for webhook and slack channels; an email channel takes email"
                )));
            }
        }
        let Some(e) = &body.email else {
            return Err(ApiError::bad_request(
                "email is required for email channels (host, from, to; username and password \
                 for SMTP AUTH)",
            ));
        };
        let settings = email_settings(&resolver, e, false).await?;
        (
            settings.server_url(),
            e.password.clone(),
            None,
            Some(settings),
        )
    } else {
        if body.email.is_some() {
            return Err(ApiError::bad_request(
                "email is for email channels; a webhook or slack channel takes url",
            ));
        }
        let Some(url) = body.url.clone() else {
            return Err(ApiError::bad_request(
                "url is required for webhook and slack channels",
            ));
        };
        resolver
            .check(&url, &body.kind)
            .await
            .map_err(|e| ApiError::bad_request(format!("url is not allowed: {e}")))?;
        let (secret, shown) = signing_secret(&body.kind, body.signing_secret.clone())?;
        (url, secret, shown, None)
    };
    let url = state
        .cipher
        .encrypt_str(&target, Aad::new(project, Column::ChannelUrl));
    let secret = secret.map(|s| {
        state
            .cipher
            .encrypt_str(&s, Aad::new(project, Column::ChannelSecret))
    });
    let email = email
        .map(|e| serde_json::to_value(e.stored()))
        .transpose()
        .map_err(|e| ApiError::internal("could not store the email settings", &e))?;
    let audit = caller
        .audit("channel.create", "channel", &body.project_id)
        .changes(provided(&[
            ("name", true),
            ("type", true),
            ("url", body.url.is_some()),
            ("email", email.is_some()),
            ("signingSecret", body.kind != "email" && secret.is_some()),
            ("email.password", body.kind == "email" && secret.is_some()),
        ]));
    let channel = match state
        .store
        .outbox
        .insert_channel_within(
            &body.project_id,
            &body.name,
            &body.kind,
            &url,
            secret.as_deref(),
            email.as_ref(),
            i64::try_from(state.dashboard.notify.max_channels_per_project).unwrap_or(i64::MAX),
            &[audit],
        )
        .await?
    {
        ChannelInsert::Done(c) => *c,
        ChannelInsert::DuplicateName => {
            return Err(ApiError::bad_request(format!(
            "a notification channel named '{}' already exists in project '{}'; choose another name",
            shorten(&body.name),
            shorten(&body.project_id)
        )))
        }
        ChannelInsert::TooMany { limit } => {
            return Err(ApiError::bad_request(format!(
                "project '{}' already has {limit} notification channels, the most allowed \
                 (NOTIFY_MAX_CHANNELS_PER_PROJECT); delete one first",
                shorten(&body.project_id)
            )))
        }
    };
    tracing::info!(channel_id = %channel.id, project_id = %channel.project_id, kind = %channel.kind, "notification channel created");
    let mut answer = json!({ "notificationChannel": channel_json(&state, &channel) });
    if let Some(s) = shown {
        answer["signingSecret"] = json!(s);
    }
    Ok(Json(answer))
}

/// An email channel's settings, every field checked (a 400 names the
/// field, never echoes the value) and its host checked as a webhook's is
/// (no internal address unless allowed). `password_kept`: a stored
/// password stands in for one left out.
async fn email_settings(
    resolver: &PinnedResolver,
    e: &EmailBody,
    password_kept: bool,
) -> ApiResult<EmailSettings> {
    let password = match (&e.password, password_kept) {
        (Some(p), _) => Some(p.as_str()),
        (None, true) => Some("kept"),
        (None, false) => None,
    };
    let settings = email::check_settings(&EmailInput {
        host: &e.host,
        port: e.port,
        security: e.security.as_deref(),
        username: e.username.as_deref(),
        password,
        from: &e.from,
        to: &e.to,
    })
    .map_err(|err| ApiError::bad_request(err.to_string()))?;
    resolver
        .resolve_host(&settings.host, true)
        .await
        .map_err(|err| ApiError::bad_request(format!("email.host is not allowed: {err}")))?;
    Ok(settings)
}

/// A webhook's signing secret (given, or made and shown once); none for
/// Slack.
fn signing_secret(
    kind: &str,
    given: Option<String>,
) -> ApiResult<(Option<String>, Option<String>)> {
    Ok(match (kind, given) {
        ("slack", Some(_)) => {
            return Err(ApiError::bad_request(
                "signingSecret is for webhook channels; Slack does not check signatures",
            ))
        }
        ("slack", None) => (None, None),
        (_, Some(s)) if s.len() < 16 => return Err(ApiError::bad_request(
            "signingSecret must be at least 16 characters (or leave it out to get a random one)",
        )),
        (_, Some(s)) => (Some(s), None),
        (_, None) => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            (Some(s.clone()), Some(s))
        }
    })
}

pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ValidQuery(q): ValidQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(&q.project_id, Role::Read)?;
    require_project(&state, &q.project_id).await?;
    let channels = state.store.outbox.channels(&q.project_id).await?;
    Ok(Json(json!({
        "notificationChannels": channels.iter().map(|c| channel_json(&state, c)).collect::<Vec<_>>(),
    })))
}

/// The channel, if the caller may act on it with `role` (another
/// project's answers as a missing one).
async fn load(
    state: &ApiState,
    caller: &Caller,
    raw: &str,
    role: Role,
) -> ApiResult<ChannelRecord> {
    let id = path_uuid(raw)?;
    let channel = state
        .store
        .outbox
        .channel(id)
        .await?
        .filter(|c| caller.sees(&c.project_id))
        .ok_or_else(|| not_found(raw))?;
    caller.require(&channel.project_id, role)?;
    Ok(channel)
}

pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let channel = load(&state, &caller, &id, Role::Read).await?;
    Ok(Json(
        json!({ "notificationChannel": channel_json(&state, &channel) }),
    ))
}

/// Not `Debug`: it holds the password.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateChannel {
    email: EmailBody,
}

impl RequestBody for UpdateChannel {
    const OPERATION: &'static str = "updateNotificationChannel";
}

/// Replaces an email channel's settings (a wrong password fixed without
/// losing the channel's history); a password left out keeps the stored
/// one while a username is given. Its failing state is cleared.
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<UpdateChannel>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    let channel = load(&state, &caller, &id, Role::Write).await?;
    if channel.kind != "email" {
        return Err(ApiError::bad_request(
            "only an email channel's settings can be changed; delete a webhook or slack \
             channel and create it again",
        ));
    }
    let e = &body.email;
    let keep = e.password.is_none() && e.username.is_some() && channel.encrypted_secret.is_some();
    let resolver = PinnedResolver::new(
        state.dashboard.allow_private_targets,
        state.dashboard.notify.dns_timeout,
    );
    let settings = email_settings(&resolver, e, keep).await?;
    let project = channel.project_id.as_str();
    let url = state.cipher.encrypt_str(
        &settings.server_url(),
        Aad::new(project, Column::ChannelUrl),
    );
    let secret = match (&e.password, keep) {
        (Some(p), _) => Some(
            state
                .cipher
                .encrypt_str(p, Aad::new(project, Column::ChannelSecret)),
        ),
        (None, true) => channel.encrypted_secret.clone(),
        (None, false) => None,
    };
    let stored = serde_json::to_value(settings.stored())
        .map_err(|e| ApiError::internal("could not store the email settings", &e))?;
    let audit = caller
        .audit("channel.update", "channel", project)
        .target(channel.id)
        .changes(provided(&[
            ("email", true),
            ("email.password", e.password.is_some()),
        ]));
    let Some(updated) = state
        .store
        .outbox
        .update_email_channel(channel.id, &url, secret.as_deref(), &stored, &[audit])
        .await?
    else {
        return Err(not_found(&id));
    };
    tracing::info!(channel_id = %updated.id, project_id = %updated.project_id, "notification channel updated");
    Ok(Json(
        json!({ "notificationChannel": channel_json(&state, &updated) }),
    ))
}

pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    let channel = load(&state, &caller, &id, Role::Write).await?;
    let audit = caller
        .audit("channel.delete", "channel", &channel.project_id)
        .target(channel.id);
    if !state
        .store
        .outbox
        .delete_channel(channel.id, &[audit])
        .await?
    {
        return Err(not_found(&id));
    }
    Ok(Json(
        json!({ "notificationChannel": channel_json(&state, &channel) }),
    ))
}

/// The channel's last 100 delivery attempts.
pub async fn deliveries(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let channel = load(&state, &caller, &id, Role::Read).await?;
    let attempts = state.store.outbox.channel_attempts(channel.id, 100).await?;
    let row = |a: &AttemptRecord| {
        json!({
            "deliveryId": a.delivery_id,
            "at": a.at,
            "events": a.events,
            "statusCode": a.status_code,
            "error": a.error,
        })
    };
    Ok(Json(json!({
        "deliveries": attempts.iter().map(row).collect::<Vec<_>>(),
    })))
}
