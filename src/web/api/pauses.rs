//! Pausing Humanitec writes (issue 41): per connection (a write token of
//! its project; another project's connection answers as a missing one),
//! or for the whole instance (an admin token; any other gets 403), and
//! the list of the pauses that hold a caller's syncs.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::connections::load;
use super::syncs::require_project;
use super::validation::{PathId, RequestBody, ValidJson, ValidQuery};
use crate::service::pauses::{self, PauseActor, PauseScope};
use crate::store::PauseRow;
use crate::web::auth::{Caller, Role};
use crate::web::errors::{ApiError, ApiResult};
use crate::web::limits::Spend;
use crate::web::state::ApiState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PauseBody {
    reason: String,
}

impl RequestBody for PauseBody {
    const OPERATION: &'static str = "pauseConnection";
}

/// The instance's pause takes the same body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstancePauseBody {
    reason: String,
}

impl RequestBody for InstancePauseBody {
    const OPERATION: &'static str = "pauseInstance";
}

/// A pause as the API shows it.
pub fn pause_json(p: &PauseRow) -> Value {
    json!({
        "id": p.id,
        "scope": if p.connection_id.is_some() { "connection" } else { "instance" },
        "connectionId": p.connection_id,
        "connectionName": p.connection_name,
        "projectId": p.project_id,
        "reason": p.reason,
        "pausedBy": p.paused_by,
        "pausedAt": p.paused_at,
    })
}

fn acting(caller: &Caller) -> PauseActor {
    PauseActor {
        actor: caller.actor(),
        label: caller.actor().label(),
        req_id: Some(crate::web::errors::current_req_id()),
    }
}

/// The connection's scope, if the caller may write to its project.
async fn connection_scope(
    state: &ApiState,
    caller: &Caller,
    id: uuid::Uuid,
) -> ApiResult<PauseScope> {
    let conn = load(state, caller, id, Role::Write).await?;
    let project_id = conn["projectId"].as_str().unwrap_or_default().to_string();
    Ok(PauseScope::Connection { id, project_id })
}

fn require_admin(caller: &Caller) -> ApiResult<()> {
    if caller.is_admin() {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "pausing or resuming the whole instance needs an admin token (`secret-sync token \
         create --role admin`); a project's token can pause its own connections",
    )
    .with_details(json!({"role": caller.role.as_str(), "requiredRole": "admin"})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    project_id: Option<String>,
}

/// `GET /api/v1/pauses`: the active pauses that hold the caller's syncs
/// (with `projectId`, that project's: its connections' and the instance's).
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ValidQuery(q): ValidQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let projects = match q.project_id {
        Some(p) => {
            caller.require(&p, Role::Read)?;
            require_project(&state, &p).await?;
            Some(vec![p])
        }
        None => (!caller.is_admin()).then(|| caller.projects.clone()),
    };
    let active = pauses::visible_pauses(&state.store, projects.as_deref()).await?;
    let shown: Vec<Value> = active.iter().map(pause_json).collect();
    Ok(Json(json!({ "pauses": shown })))
}

/// `POST …/app-connections/humanitec/{connectionId}/pause`.
pub async fn pause_connection(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
    ValidJson(body): ValidJson<PauseBody>,
) -> ApiResult<Json<Value>> {
    // Spent once the connection is found: an unknown id (or another
    // project's) costs nothing, whoever asks.
    let scope = connection_scope(&state, &caller, id).await?;
    state.limits.check(Spend::Write, caller.token_id)?;
    let pause = pauses::pause(&state.store, &scope, &body.reason, &acting(&caller)).await?;
    Ok(Json(json!({ "pause": pause_json(&pause) })))
}

/// `POST …/app-connections/humanitec/{connectionId}/resume`.
pub async fn resume_connection(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    // Spent once the connection is found: an unknown id (or another
    // project's) costs nothing, whoever asks.
    let scope = connection_scope(&state, &caller, id).await?;
    state.limits.check(Spend::Write, caller.token_id)?;
    let pause = pauses::resume(&state.store, &scope, &acting(&caller)).await?;
    Ok(Json(json!({ "pause": pause_json(&pause) })))
}

/// `POST /api/v1/instance/pause` (admin).
pub async fn pause_instance(
    State(state): State<ApiState>,
    caller: Caller,
    ValidJson(body): ValidJson<InstancePauseBody>,
) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    state.limits.check(Spend::Write, caller.token_id)?;
    let scope = PauseScope::Instance;
    let pause = pauses::pause(&state.store, &scope, &body.reason, &acting(&caller)).await?;
    Ok(Json(json!({ "pause": pause_json(&pause) })))
}

/// `POST /api/v1/instance/resume` (admin).
pub async fn resume_instance(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    state.limits.check(Spend::Write, caller.token_id)?;
    let pause = pauses::resume(&state.store, &PauseScope::Instance, &acting(&caller)).await?;
    Ok(Json(json!({ "pause": pause_json(&pause) })))
}
