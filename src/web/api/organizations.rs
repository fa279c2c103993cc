//! `GET /api/v1/app-connections/humanitec/{connectionId}/organizations`:
//! the Humanitec organizations, apps and environments a connection's token
//! can see, read live from Humanitec (what a UI needs for a destination
//! picker). Infisical's route and shape:
//! `backend/src/server/routes/v1/app-connection-routers/humanitec-connection-router.ts`
//! (a bare array of `{id, name, apps: [{id, name, envs: [{id, name}]}]}`).
//! Its calls are Infisical's too: `GET /orgs`, then `GET /orgs/{org}/apps`
//! per organization (apps embed their environments).

use axum::extract::State;
use axum::Json;
use futures::future::try_join_all;
use serde::Deserialize;
use serde_json::{json, Value};

use super::connections::load;
use super::validation::{page, within_cap, PathId, ValidQuery};
use crate::humanitec::HumanitecError;
use crate::web::auth::{Caller, Role};
use crate::web::errors::{ApiError, ApiResult};
use crate::web::limits::Spend;
use crate::web::state::ApiState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationsQuery {
    offset: Option<i64>,
    limit: Option<i64>,
}

/// Unlike Infisical (which answers `[]` whatever went wrong), a token
/// Humanitec rejects or an unreachable Humanitec is an error saying so.
pub async fn organizations(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
    ValidQuery(q): ValidQuery<OrganizationsQuery>,
) -> ApiResult<Json<Value>> {
    let page = page(q.offset, q.limit)?;
    load(&state, &caller, id, Role::Read).await?;
    // Each call costs Humanitec calls: counted like a preview.
    state.limits.check(Spend::Preview, caller.token_id)?;
    let (conn, token) = state.syncs.connection_token(id).await?;
    let (humanitec, token) = (&state.humanitec, &token);
    let orgs = humanitec
        .list_orgs(token)
        .await
        .map_err(|e| humanitec_error(&conn.name, e))?;
    let shown: Vec<_> = orgs
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
        .collect();
    let shown = within_cap(shown, page)?;
    let with_apps = try_join_all(shown.into_iter().map(|org| async move {
        let apps = humanitec.list_apps(token, &org.id).await?;
        Ok::<_, HumanitecError>(json!({
            "id": org.id,
            "name": org.name,
            "apps": apps.iter().map(|a| json!({
                "id": a.id,
                "name": a.name,
                "envs": a.envs.iter().map(|e| json!({"id": e.id, "name": e.name})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }))
    }))
    .await
    .map_err(|e| humanitec_error(&conn.name, e))?;
    Ok(Json(Value::Array(with_apps)))
}

fn humanitec_error(connection: &str, e: HumanitecError) -> ApiError {
    match e.status() {
        Some(status @ (401 | 403)) => ApiError::bad_request(format!(
            "Humanitec rejected the API token of connection '{connection}' (HTTP {status}); \
             PATCH the connection with a current service-user token"
        )),
        _ if e.is_transient() => {
            ApiError::upstream("could not read organizations from Humanitec; try again", &e)
        }
        _ => ApiError::bad_request(format!(
            "Humanitec did not answer as expected for connection '{connection}': {e}"
        )),
    }
}
