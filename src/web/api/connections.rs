//! `/api/v1/app-connections/humanitec`: connections hold a Humanitec
//! service-user API token, checked against Humanitec (`GET /orgs`) before
//! anything is stored, stored encrypted, never returned or logged.

use crate::web::limits::Spend;
use axum::extract::State;
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::syncs::{present, require_project};
use super::validation::{
    check_field, check_slug, page, provided, trim_fields, within_cap, PathId, RequestBody,
    ValidJson, ValidQuery,
};
use crate::crypto::{Aad, Column};
use crate::store::{ConnectionChanges, Written};
use crate::web::auth::{Caller, Role};
use crate::web::errors::{shorten, ApiError, ApiResult};
use crate::web::state::ApiState;

/// Deliberately not `Debug`: it holds the token.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Credentials {
    api_token: String,
}

/// Keys the schema does not name are ignored (Infisical's connection form
/// posts its whole form); `credentials` stays strict.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateConnection {
    name: String,
    /// Optional, as in Infisical (whose connections belong to the
    /// organisation): without it, the token's one project.
    project_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// Only `api-token` exists (the schema enforces it).
    #[allow(dead_code)]
    method: String,
    credentials: Credentials,
}

impl RequestBody for CreateConnection {
    const OPERATION: &'static str = "createHumanitecAppConnection";
    fn normalize(body: &mut Value) {
        trim_fields(body, &["projectId", "description"], &["name"]);
    }
}

/// Infisical's form and Terraform send `method` (and the form the rest of
/// itself) on update too: taken; `projectId`, if sent, must be the
/// connection's own.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateConnection {
    /// Only `api-token` exists (the schema enforces it).
    #[allow(dead_code)]
    method: Option<String>,
    project_id: Option<String>,
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    credentials: Option<Credentials>,
}

impl RequestBody for UpdateConnection {
    const OPERATION: &'static str = "updateHumanitecAppConnection";
    fn normalize(body: &mut Value) {
        trim_fields(body, &["projectId", "description"], &["name"]);
    }
}

/// The project of a new connection: `projectId`, or the token's one
/// project. An admin token (every project) or a token of several must
/// name it.
fn connection_project(caller: &Caller, given: Option<String>) -> ApiResult<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    match caller.projects.as_slice() {
        [only] if !caller.is_admin() => Ok(only.clone()),
        _ if caller.is_admin() => Err(ApiError::validation(vec![crate::web::errors::issue(
            "invalid_type",
            vec![json!("projectId")],
            "Required: an admin token reaches every project, so name the project the \
             connection belongs to in projectId",
            json!({"expected": "string", "received": "undefined"}),
        )])),
        several => Err(ApiError::validation(vec![crate::web::errors::issue(
            "invalid_type",
            vec![json!("projectId")],
            format!(
                "Required: this token reaches {} projects ({}), so name the one the \
                 connection belongs to in projectId",
                several.len(),
                several
                    .iter()
                    .map(|p| shorten(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            json!({"expected": "string", "received": "undefined"}),
        )])),
    }
}

pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ValidJson(body): ValidJson<CreateConnection>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    check_slug("name", &body.name)?;
    let project_id = connection_project(&caller, body.project_id)?;
    check_field("projectId", &project_id, false)?;
    caller.require(&project_id, Role::Write)?;
    require_project(&state, &project_id).await?;
    let sealed = check_and_seal(&state, &project_id, body.credentials).await?;
    match state
        .store
        .syncs
        .insert_connection(
            &project_id,
            &body.name,
            body.description.as_deref(),
            &sealed,
            &[caller
                .audit("connection.create", "connection", &project_id)
                .changes(provided(&[
                    ("name", true),
                    ("description", body.description.is_some()),
                    ("credentials", true),
                ]))],
        )
        .await?
    {
        Written::Done(conn) => {
            tracing::info!(connection_id = %conn["id"], %project_id, "app connection created");
            Ok(Json(json!({ "appConnection": conn })))
        }
        Written::DuplicateName | Written::Missing | Written::Refused(_) => {
            Err(duplicate_name(&body.name, &project_id))
        }
    }
}

pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    let conn = load(&state, &caller, id, Role::Read).await?;
    Ok(Json(json!({ "appConnection": conn })))
}

/// A list of connections: of one project, or (without `projectId`, as
/// Infisical's clients call it) of every project the caller sees.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionListQuery {
    project_id: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
}

/// `GET /api/v1/app-connections/humanitec` and Infisical's generic
/// `GET /api/v1/app-connections` (every app's: here, Humanitec's).
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ValidQuery(q): ValidQuery<ConnectionListQuery>,
) -> ApiResult<Json<Value>> {
    let conns = visible_connections(&state, &caller, q).await?;
    Ok(Json(json!({ "appConnections": conns })))
}

/// `GET /api/v1/app-connections/humanitec/available`: Infisical's slim
/// list (`{app, name, id}`) of the connections a caller may pick.
pub async fn available(
    State(state): State<ApiState>,
    caller: Caller,
    ValidQuery(q): ValidQuery<ConnectionListQuery>,
) -> ApiResult<Json<Value>> {
    let conns = visible_connections(&state, &caller, q).await?;
    let slim: Vec<Value> = conns
        .iter()
        .map(|c| json!({"app": c["app"], "name": c["name"], "id": c["id"]}))
        .collect();
    Ok(Json(json!({ "appConnections": slim })))
}

async fn visible_connections(
    state: &ApiState,
    caller: &Caller,
    q: ConnectionListQuery,
) -> ApiResult<Vec<Value>> {
    let page = page(q.offset, q.limit)?;
    let projects = match q.project_id {
        Some(p) => {
            caller.require(&p, Role::Read)?;
            require_project(state, &p).await?;
            Some(vec![p])
        }
        None => visible_projects(caller),
    };
    let conns = state
        .store
        .syncs
        .connections_api_json(projects.as_deref(), page)
        .await?;
    within_cap(conns, page)
}

/// The projects a caller's look-ups range over; `None`: every project
/// (an admin).
pub(super) fn visible_projects(caller: &Caller) -> Option<Vec<String>> {
    if caller.is_admin() {
        None
    } else {
        Some(caller.projects.clone())
    }
}

/// A new token is checked against Humanitec before it replaces the old one;
/// syncs using the connection pick it up on their next job.
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
    ValidJson(body): ValidJson<UpdateConnection>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    let current = load(&state, &caller, id, Role::Write).await?;
    let project = current["projectId"].as_str().unwrap_or_default();
    // A connection stays in its project (another project's connection id
    // is a 404 above, like a missing one).
    if let Some(p) = body.project_id.as_deref().filter(|p| *p != project) {
        return Err(ApiError::invalid_field(
            "projectId",
            format!(
                "projectId '{}' is not the project of app connection {id} ('{}'); a connection \
                 cannot move to another project: leave projectId out, or send '{}'",
                shorten(p),
                shorten(project),
                shorten(project)
            ),
        ));
    }
    if let Some(name) = &body.name {
        check_slug("name", name)?;
    }
    let sealed = match body.credentials {
        Some(c) => Some(check_and_seal(&state, project, c).await?),
        None => None,
    };
    let changes = ConnectionChanges {
        name: body.name.clone(),
        description: body.description,
        encrypted_credentials: sealed,
    };
    let audit = caller
        .audit("connection.update", "connection", project)
        .target(id)
        .changes(provided(&[
            ("name", changes.name.is_some()),
            ("description", changes.description.is_some()),
            ("credentials", changes.encrypted_credentials.is_some()),
        ]));
    match state
        .store
        .syncs
        .update_connection(id, &changes, &[audit])
        .await?
    {
        Written::Done(conn) => {
            tracing::info!(connection_id = %id, token_replaced = changes.encrypted_credentials.is_some(), "app connection updated");
            Ok(Json(json!({ "appConnection": conn })))
        }
        Written::Missing | Written::Refused(_) => Err(not_found(id)),
        Written::DuplicateName => Err(duplicate_name(
            body.name.as_deref().unwrap_or_default(),
            current["projectId"].as_str().unwrap_or_default(),
        )),
    }
}

/// Refused while syncs use the connection: they would fail on every job.
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    let conn = load(&state, &caller, id, Role::Write).await?;
    let project = conn["projectId"].as_str().unwrap_or_default();
    let audit = caller
        .audit("connection.delete", "connection", project)
        .target(id);
    match state
        .store
        .syncs
        .delete_unused_connection(id, &[audit])
        .await?
    {
        Ok(true) => {
            tracing::info!(connection_id = %id, "app connection deleted");
            Ok(Json(json!({ "appConnection": conn })))
        }
        Ok(false) => Err(not_found(id)),
        // Infisical refuses it with 400 BadRequest too.
        Err(users) => Err(ApiError::bad_request(format!(
            "app connection '{}' is used by {} secret sync(s): {}; delete them or move them \
             to another connection first",
            conn["name"].as_str().unwrap_or_default(),
            users.len(),
            users.join(", ")
        ))),
    }
}

pub(super) fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("app connection {id} not found"))
}

/// 400 BadRequest, as Infisical answers a taken name.
fn duplicate_name(name: &str, project_id: &str) -> ApiError {
    ApiError::bad_request(format!(
        "an app connection named '{}' already exists in project '{}'; choose another name",
        shorten(name),
        shorten(project_id)
    ))
}

pub(super) async fn load(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
    role: Role,
) -> ApiResult<Value> {
    let (project_id, conn) = state
        .store
        .syncs
        .connection_api_json(id)
        .await?
        // Another project's connection answers as a missing one.
        .filter(|(project_id, _)| caller.sees(project_id))
        .ok_or_else(|| not_found(id))?;
    caller.require(&project_id, role)?;
    Ok(conn)
}

/// Checks the token with Humanitec, then encrypts `{"apiToken": …}`, bound
/// to the connection's project.
async fn check_and_seal(
    state: &ApiState,
    project_id: &str,
    credentials: Credentials,
) -> ApiResult<Vec<u8>> {
    let token = SecretString::from(credentials.api_token);
    if let Err(e) = state.humanitec.check_token(&token).await {
        return Err(match e.status() {
            Some(status @ (401 | 403)) => ApiError::bad_request(format!(
                "Humanitec rejected the API token (HTTP {status} to GET /orgs); use a current \
                 service-user token. Nothing was stored"
            )),
            _ if e.is_transient() => ApiError::upstream(
                "could not check the API token with Humanitec; nothing was stored, try again",
                &e,
            ),
            _ => ApiError::bad_request(format!(
                "Humanitec did not accept the API token ({e}). Nothing was stored"
            )),
        });
    }
    let plain = json!({ "apiToken": token.expose_secret() }).to_string();
    let at = Aad::new(project_id, Column::ConnectionCredentials);
    Ok(state.cipher.encrypt_str(&plain, at))
}
