//! The sync list's and a sync's everyday actions for write tokens: turn
//! auto-sync on or off, delete a sync (keeping its keys in Humanitec, or
//! removing them first), and retry every failed sync of a view. Each passes
//! the checks every dashboard action passes (`Viewer::check_action`: same
//! origin, CSRF, write role on the sync's project), spends the token's rate
//! limit as the API's call of the same kind does, and goes through the
//! store functions and the one enqueue path the API uses.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;

use super::detail::{parse_id, TRIGGER};
use super::session::Viewer;
use super::syncs::{filter_of, list_query};
use super::{DashError, DashResult};
use crate::model::JobKind;
use crate::service::{DefinitionChanges, Deleted};
use crate::store::SyncOrder;
use crate::web::limits::Spend;
use crate::web::state::ApiState;

/// At most this many syncs are retried by one "retry failed".
pub const RETRY_AT_MOST: i64 = 500;

#[derive(Deserialize)]
pub struct AutoSyncForm {
    #[serde(default)]
    csrf: String,
    enabled: Option<String>,
}

/// Turns auto-sync on or off, as the API's update does: the change is
/// stored (the version goes up) and, when auto-sync is turned on, a sync
/// job is queued at once (or, with the broker down, the sync says it was
/// not and the change stands).
pub async fn auto_sync(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AutoSyncForm>,
) -> DashResult {
    let id = parse_id(&id)?;
    state.limits.check(Spend::Write, viewer.caller.token_id)?;
    let sync = state.syncs.load(id, |p| viewer.caller.sees(p)).await?;
    viewer.check_action(&state, &headers, &form.csrf, Some(&sync.project_id))?;
    let on = match form.enabled.as_deref() {
        Some("on") => true,
        Some("off") => false,
        _ => {
            return Err(DashError::new(
                StatusCode::BAD_REQUEST,
                "say whether auto-sync should be on or off (enabled=on|off)",
            ))
        }
    };
    let changes = DefinitionChanges {
        is_auto_sync_enabled: Some(on),
        ..DefinitionChanges::default()
    };
    // The switch is on either way; the sync's page says if no job was queued.
    state
        .syncs
        .update(&viewer.caller.acting(TRIGGER), &sync, changes)
        .await?;
    tracing::info!(sync_id = %id, auto_sync = on, "dashboard changed auto-sync");
    Ok(Redirect::to(&format!("/syncs/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// `keep` or `remove`: no default, the operator chooses.
    keys: Option<String>,
}

/// Deletes a sync as the API's delete does: at once with its keys left in
/// Humanitec, or through a remove job that deletes the sync once its keys
/// are gone (`removeSecrets=true`).
pub async fn delete(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> DashResult {
    let id = parse_id(&id)?;
    state.limits.check(Spend::Write, viewer.caller.token_id)?;
    let sync = state.syncs.load(id, |p| viewer.caller.sees(p)).await?;
    viewer.check_action(&state, &headers, &form.csrf, Some(&sync.project_id))?;
    let remove_secrets = match form.keys.as_deref() {
        Some("remove") => true,
        Some("keep") => false,
        _ => {
            return Err(DashError::new(
                StatusCode::BAD_REQUEST,
                "choose what happens to the sync's keys in Humanitec: keep them or remove them",
            ))
        }
    };
    let acting = viewer.caller.acting(TRIGGER);
    match state.syncs.delete(&acting, &sync, remove_secrets).await? {
        Deleted::Removing(job) => {
            tracing::info!(sync_id = %id, job_id = %job, "dashboard queued a remove that deletes the sync");
            Ok(Redirect::to("/?done=removing").into_response())
        }
        Deleted::Now => {
            tracing::info!(sync_id = %id, "dashboard deleted a sync, keys kept");
            Ok(Redirect::to("/?done=deleted").into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    csrf: String,
    project: Option<String>,
    app: Option<String>,
    env: Option<String>,
    q: Option<String>,
    /// The count the operator confirmed.
    expected: Option<i64>,
}

/// Queues one sync job per failed sync of the view (coalesced as every
/// enqueue is), after checking the view still holds the number confirmed.
pub async fn retry_failed(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<RetryForm>,
) -> DashResult {
    state.limits.check(Spend::Trigger, viewer.caller.token_id)?;
    let filter = filter_of(&None, &form.project, &form.app, &form.env, &form.q);
    if let Some(p) = &filter.project {
        // Another project answers as one that does not exist.
        if !viewer.caller.projects.iter().any(|mine| mine == p) {
            return Err(DashError::not_found(
                "no such project among the ones this token may see",
            ));
        }
    }
    viewer.check_action(&state, &headers, &form.csrf, filter.project.as_deref())?;
    let (ids, failed) = state
        .store
        .reads
        .dashboard_failed_syncs(&viewer.caller.projects, &filter, RETRY_AT_MOST)
        .await?;
    if let Some(expected) = form.expected {
        if expected != failed {
            return Err(DashError::new(
                StatusCode::CONFLICT,
                format!(
                    "{failed} failed syncs match this view now, not the {expected} you confirmed; \
                     reload the list and try again"
                ),
            ));
        }
    }
    if failed > RETRY_AT_MOST {
        return Err(DashError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{failed} failed syncs match; retry at most {RETRY_AT_MOST} at once (narrow the view \
                 with a filter or the search)"
            ),
        ));
    }
    let mut queued = 0i64;
    let acting = viewer.caller.acting(TRIGGER);
    for id in ids {
        // Gone since the list was read: nothing to retry.
        let Ok(sync) = state.syncs.load(id, |p| viewer.caller.sees(p)).await else {
            continue;
        };
        let job = state.syncs.trigger(&acting, &sync, JobKind::SYNC).await?;
        tracing::info!(sync_id = %id, job_id = %job, "dashboard retried a failed sync");
        queued += 1;
    }
    let f = crate::store::SyncFilter {
        status: Some("failed".into()),
        ..filter
    };
    let query = list_query(&f, SyncOrder::default(), &[("retried", queued.to_string())]);
    Ok(Redirect::to(&format!("/{query}")).into_response())
}
