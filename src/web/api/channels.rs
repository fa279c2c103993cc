//! `/api/v1/notification-channels`: where a project's sync failures and
//! recoveries are sent (a signed JSON webhook, or a Slack incoming
//! webhook). The URL and signing secret are stored encrypted and never
//! returned after creation; a webhook's secret is shown once, when made.
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
    url: String,
    signing_secret: Option<String>,
}

impl RequestBody for CreateChannel {
    const OPERATION: &'static str = "createNotificationChannel";
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    project_id: String,
}

fn channel_json(c: &ChannelRecord) -> Value {
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
    PinnedResolver::new(
        state.dashboard.allow_private_targets,
        state.dashboard.notify.dns_timeout,
    )
    .check(&body.url, &body.kind)
    .await
    .map_err(|e| ApiError::bad_request(format!("url is not allowed: {e}")))?;
    let (secret, shown) = match (body.kind.as_str(), body.signing_secret) {
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
    };
    let project = body.project_id.as_str();
    let url = state
        .cipher
        .encrypt_str(&body.url, Aad::new(project, Column::ChannelUrl));
    let secret = secret.map(|s| {
        state
            .cipher
            .encrypt_str(&s, Aad::new(project, Column::ChannelSecret))
    });
    let audit = caller
        .audit("channel.create", "channel", &body.project_id)
        .changes(provided(&[
            ("name", true),
            ("type", true),
            ("url", true),
            ("signingSecret", secret.is_some()),
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
            i64::try_from(state.dashboard.notify.max_channels_per_project).unwrap_or(i64::MAX),
            &[audit],
        )
        .await?
    {
        ChannelInsert::Done(c) => c,
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
    tracing::info!(channel_id = %channel.id, project_id = %channel.project_id, "notification channel created");
    let mut answer = json!({ "notificationChannel": channel_json(&channel) });
    if let Some(s) = shown {
        answer["signingSecret"] = json!(s);
    }
    Ok(Json(answer))
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
        "notificationChannels": channels.iter().map(channel_json).collect::<Vec<_>>(),
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
        json!({ "notificationChannel": channel_json(&channel) }),
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
        json!({ "notificationChannel": channel_json(&channel) }),
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
