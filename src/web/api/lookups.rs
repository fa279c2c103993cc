//! Infisical's look-ups around syncs and connections, on its paths and in
//! its shapes: by name, the option catalogues, and the duplicate-destination
//! check. Infisical's routers are the reference:
//! `backend/src/server/routes/v1/secret-sync-routers/secret-sync-endpoints.ts`,
//! `…/secret-sync-router.ts`, `…/app-connection-routers/app-connection-endpoints.ts`
//! and `…/app-connection-router.ts`.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::connections::visible_projects;
use super::syncs::{check_connection, require_project, view};
use super::validation::{
    check_field, check_text, trim_fields, PathName, RequestBody, ValidJson, ValidQuery,
};
use crate::jobs::settings::parse_scope;
use crate::web::auth::{Caller, Role};
use crate::web::errors::{shorten, ApiError, ApiResult};
use crate::web::state::ApiState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ByNameQuery {
    project_id: String,
}

/// `GET /api/v1/secret-syncs/humanitec/sync-name/{syncName}?projectId=P`.
/// Names are unique per project, so the project is part of the question;
/// a project the token may not see is a 403, as for the project's list.
pub async fn sync_by_name(
    State(state): State<ApiState>,
    caller: Caller,
    PathName(name): PathName,
    ValidQuery(q): ValidQuery<ByNameQuery>,
) -> ApiResult<Json<Value>> {
    check_text("projectId", &q.project_id, false)?;
    caller.require(&q.project_id, Role::Read)?;
    require_project(&state, &q.project_id).await?;
    let not_found = || {
        ApiError::not_found(format!(
            "secret sync '{}' not found in project '{}'",
            shorten(&name),
            shorten(&q.project_id)
        ))
    };
    let id = state
        .store
        .syncs
        .sync_id_by_name(&q.project_id, &name)
        .await?
        .ok_or_else(not_found)?;
    view(&state, id).await
}

/// `?projectId=` on the catalogues is optional: when sent, it is checked
/// like a list's (so a client can check its token's reach in one call).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OptionsQuery {
    project_id: Option<String>,
}

async fn check_optional_project(
    state: &ApiState,
    caller: &Caller,
    project_id: Option<&str>,
) -> ApiResult<()> {
    if let Some(p) = project_id {
        caller.require(p, Role::Read)?;
        require_project(state, p).await?;
    }
    Ok(())
}

/// `GET /api/v1/secret-syncs/options` (Infisical's `listSecretSyncOptions`,
/// items as its `HumanitecSyncListItemSchema` and `HUMANITEC_SYNC_LIST_OPTION`).
/// `canImportSecrets` is true here: imports of non-secret values work.
pub async fn sync_options(
    State(state): State<ApiState>,
    caller: Caller,
    ValidQuery(q): ValidQuery<OptionsQuery>,
) -> ApiResult<Json<Value>> {
    check_optional_project(&state, &caller, q.project_id.as_deref()).await?;
    Ok(Json(json!({
        "secretSyncOptions": [{
            "name": "Humanitec",
            "destination": "humanitec",
            "connection": "humanitec",
            "canImportSecrets": true,
            "canRemoveSecretsOnDeletion": true,
        }]
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionOptionsQuery {
    project_id: Option<String>,
    /// Infisical's filter by project type; every project here is a
    /// secrets-manager project.
    project_type: Option<String>,
}

/// `GET /api/v1/app-connections/options` (Infisical's
/// `listAppConnectionOptions`, items as `HumanitecConnectionListItemSchema`).
pub async fn connection_options(
    State(state): State<ApiState>,
    caller: Caller,
    ValidQuery(q): ValidQuery<ConnectionOptionsQuery>,
) -> ApiResult<Json<Value>> {
    check_optional_project(&state, &caller, q.project_id.as_deref()).await?;
    let options = match q.project_type.as_deref() {
        None | Some("secret-manager") => {
            vec![json!({"name": "Humanitec", "app": "humanitec", "methods": ["api-token"]})]
        }
        Some(_) => Vec::new(),
    };
    Ok(Json(json!({ "appConnectionOptions": options })))
}

/// `GET /api/v1/app-connections/humanitec/connection-name/{connectionName}`.
/// Infisical's connections belong to an organisation and its path has no
/// project; here they belong to a project. Without `projectId` the name is
/// looked up in every project the token sees; if two of them have a
/// connection of that name, the answer is a 400 asking for `projectId`.
pub async fn connection_by_name(
    State(state): State<ApiState>,
    caller: Caller,
    PathName(name): PathName,
    ValidQuery(q): ValidQuery<OptionsQuery>,
) -> ApiResult<Json<Value>> {
    let projects = match &q.project_id {
        Some(p) => {
            check_text("projectId", p, false)?;
            caller.require(p, Role::Read)?;
            require_project(&state, p).await?;
            Some(vec![p.clone()])
        }
        None => visible_projects(&caller),
    };
    let mut found = state
        .store
        .syncs
        .connections_named(&name, projects.as_deref(), 2)
        .await?;
    match found.len() {
        0 => Err(ApiError::not_found(format!(
            "app connection '{}' not found",
            shorten(&name)
        ))),
        1 => {
            let (_, conn) = found.remove(0);
            Ok(Json(json!({ "appConnection": conn })))
        }
        _ => Err(ApiError::bad_request(format!(
            "more than one of this token's projects has an app connection named '{}' (names \
             are unique per project); add ?projectId= to say which",
            shorten(&name)
        ))),
    }
}

/// As Infisical's: `destinationConfig` may be anything (`z.unknown()`),
/// keys the schema does not name are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckDestination {
    #[serde(default)]
    destination_config: Value,
    connection_id: Option<Uuid>,
    exclude_sync_id: Option<Uuid>,
    project_id: String,
}

impl RequestBody for CheckDestination {
    const OPERATION: &'static str = "checkHumanitecSecretSyncDestination";
    fn normalize(body: &mut Value) {
        trim_fields(body, &["projectId"], &[]);
    }
}

/// `POST /api/v1/secret-syncs/humanitec/check-destination`: whether another
/// sync already writes the same Humanitec values (the same app's app-level
/// values, or the same environment's). `duplicateProjectId` is given only
/// when the duplicate belongs to a project the token sees: a caller never
/// learns another project's id (see docs/api.md). `excludeSyncId` is
/// honoured only for a sync the caller sees, so it cannot be used to probe
/// where another project's sync writes. As in Infisical, a read token may
/// ask (the form asks as the user types), and a destination not yet
/// complete (no `env` yet, an unknown `scope`) has no duplicate.
pub async fn check_destination(
    State(state): State<ApiState>,
    caller: Caller,
    ValidJson(body): ValidJson<CheckDestination>,
) -> ApiResult<Json<Value>> {
    check_field("projectId", &body.project_id, false)?;
    caller.require(&body.project_id, Role::Read)?;
    require_project(&state, &body.project_id).await?;
    if let Some(c) = body.connection_id {
        check_connection(&state, &body.project_id, c).await?;
    }
    let Ok(scope) = parse_scope(&body.destination_config) else {
        return Ok(Json(json!({"hasDuplicate": false})));
    };
    let (org, app) = scope.org_app();
    let at_destination = state.store.syncs.syncs_at_destination(org, app).await?;
    let duplicates: Vec<&str> = at_destination
        .iter()
        .filter(|s| {
            let excluded = Some(s.id) == body.exclude_sync_id && caller.sees(&s.project_id);
            !excluded && parse_scope(&s.destination_config).ok().as_ref() == Some(&scope)
        })
        .map(|s| s.project_id.as_str())
        .collect();
    let shown = duplicates
        .iter()
        .find(|p| **p == body.project_id)
        .or_else(|| duplicates.iter().find(|p| caller.sees(p)));
    Ok(Json(match (duplicates.is_empty(), shown) {
        (true, _) => json!({"hasDuplicate": false}),
        (false, Some(p)) => json!({"hasDuplicate": true, "duplicateProjectId": p}),
        (false, None) => json!({"hasDuplicate": true}),
    }))
}
