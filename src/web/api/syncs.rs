//! `/api/v1/secret-syncs/humanitec`: the seed's create, and get, list,
//! update, delete and the three job triggers, with Infisical's paths.
//! Every sync object comes from the `secret_syncs_api` view.

use crate::web::limits::Spend;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use uuid::Uuid;

use super::validation::{
    check_field, check_key_name, check_slug, fits_answer, page, provided, trim_fields,
    OptionalJson, PathId, RequestBody, ValidJson, ValidQuery,
};
use crate::model::{ImportBehavior, JobKind, JobStatus, JobType};
use crate::service::{DefinitionChanges, Deleted, NewDefinition};
use crate::store::SyncRecord;
use crate::web::auth::{Caller, Role};
use crate::web::errors::{shorten, ApiError, ApiResult};
use crate::web::state::ApiState;

/// The trigger recorded on jobs the API enqueues.
const TRIGGER: &str = "api";

/// Keys the schema does not name are ignored (Infisical's zod objects
/// strip them); the destination's and the options' stay strict.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSync {
    name: String,
    project_id: String,
    #[serde(default)]
    description: Option<String>,
    connection_id: Uuid,
    environment: String,
    secret_path: String,
    #[serde(default = "yes")]
    is_auto_sync_enabled: bool,
    sync_options: Value,
    destination_config: Value,
}

impl RequestBody for CreateSync {
    const OPERATION: &'static str = "createHumanitecSecretSync";
    fn normalize(body: &mut Value) {
        trim_fields(body, SYNC_TRIMMED, &["name"]);
    }
}

/// Fields Infisical's sync schemas `.trim()` (its `slugSchema` also
/// lowercases `name`).
const SYNC_TRIMMED: &[&str] = &["projectId", "description", "environment", "secretPath"];

fn yes() -> bool {
    true
}

/// Tells "absent" (keep) from `null` (clear) for nullable fields.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Infisical's edit form sends the whole form, `projectId` included: it
/// is taken, and must be the sync's own project.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSync {
    project_id: Option<String>,
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    connection_id: Option<Uuid>,
    environment: Option<String>,
    secret_path: Option<String>,
    is_auto_sync_enabled: Option<bool>,
    sync_options: Option<Value>,
    destination_config: Option<Value>,
}

impl RequestBody for UpdateSync {
    const OPERATION: &'static str = "updateHumanitecSecretSync";
    fn normalize(body: &mut Value) {
        trim_fields(body, SYNC_TRIMMED, &["name"]);
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportBody {
    import_behavior: Option<ImportBehavior>,
}

impl RequestBody for ImportBody {
    const OPERATION: &'static str = "importHumanitecSecretSyncSecrets";
}

/// `importBehavior` as Infisical sends it: in the query string.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportQuery {
    import_behavior: Option<ImportBehavior>,
}

/// A project's list, one page of it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    pub project_id: String,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
    /// Only the syncs that push this key (its exact name; names only).
    pub key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteQuery {
    #[serde(default)]
    remove_secrets: bool,
}

pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ValidJson(body): ValidJson<CreateSync>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    check_slug("name", &body.name)?;
    check_field("projectId", &body.project_id, false)?;
    caller.require(&body.project_id, Role::Write)?;
    check_field("environment", &body.environment, false)?;
    check_field("secretPath", &body.secret_path, false)?;
    check_settings_text(&body.destination_config, &body.sync_options)?;
    let provided = provided(&[
        ("name", true),
        ("description", body.description.is_some()),
        ("environment", true),
        ("secretPath", true),
        ("connectionId", true),
        ("isAutoSyncEnabled", true),
        ("syncOptions", true),
        ("destinationConfig", true),
    ]);
    let new = NewDefinition {
        name: &body.name,
        description: body.description.as_deref(),
        project_id: &body.project_id,
        connection_id: body.connection_id,
        environment: &body.environment,
        secret_path: &body.secret_path,
        is_auto_sync_enabled: body.is_auto_sync_enabled,
        sync_options: &body.sync_options,
        destination_config: &body.destination_config,
    };
    let created = state
        .syncs
        .create(&caller.acting(TRIGGER), new, provided)
        .await?;
    match created.job_id {
        Some(job_id) => queued_view(&state, created.sync_id, JobType::Sync, job_id).await,
        None => view(&state, created.sync_id).await,
    }
}

pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    load(&state, &caller, id, Role::Read).await?;
    view(&state, id).await
}

/// `GET /api/v1/secret-syncs/humanitec` and Infisical's generic
/// `GET /api/v1/secret-syncs` (every destination's syncs: here, Humanitec's).
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ValidQuery(q): ValidQuery<ListQuery>,
) -> ApiResult<axum::response::Response> {
    let page = page(q.offset, q.limit)?;
    if let Some(key) = &q.key {
        check_key_name("key", key)?;
    }
    caller.require(&q.project_id, Role::Read)?;
    require_project(&state, &q.project_id).await?;
    let syncs = match &q.key {
        // "Which syncs push DATABASE_URL?": the pushed-keys record.
        Some(key) => {
            state
                .store
                .syncs
                .syncs_api_json_with_key(&q.project_id, key, page)
                .await?
        }
        None => {
            state
                .store
                .syncs
                .syncs_api_json(&q.project_id, page)
                .await?
        }
    };
    fits_answer(syncs.total - page.offset, page)?;
    Ok(json_list("secretSyncs", syncs.syncs))
}

/// `{"<name>": [...]}` written as the items are read: a list of 10,000
/// syncs is sent without ever being held whole. An error after the first
/// byte can only cut the answer short (logged; the client sees the
/// connection end before the JSON does, never a shorter list that parses).
fn json_list(
    name: &'static str,
    items: futures::stream::BoxStream<'static, Result<Value, crate::store::StoreError>>,
) -> axum::response::Response {
    use futures::StreamExt;
    let open = futures::stream::once(async move { Ok(format!("{{\"{name}\":[")) });
    let mut first = true;
    // Items as they come, a few dozen to a write.
    let items = items.ready_chunks(64).map(move |chunk| {
        let mut text = String::new();
        for item in chunk {
            let item = item.map_err(|e| {
                tracing::error!(error = %e, list = name, "a list's answer was cut short");
                std::io::Error::other("the list could not be read to its end")
            })?;
            if !std::mem::take(&mut first) {
                text.push(',');
            }
            text.push_str(&item.to_string());
        }
        Ok::<_, std::io::Error>(text)
    });
    let close = futures::stream::once(async { Ok("]}".to_string()) });
    let body = axum::body::Body::from_stream(open.chain(items).chain(close));
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Changes take effect on the next job (see `SyncService::update`).
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
    ValidJson(body): ValidJson<UpdateSync>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    let sync = load(&state, &caller, id, Role::Write).await?;
    // A sync stays in its project: a `projectId` sent is checked, never
    // applied. (Another project's sync id is a 404 above, like a missing
    // one; this caller sees this sync, so naming its project tells
    // nothing new.)
    if let Some(p) = &body.project_id {
        if *p != sync.project_id {
            return Err(ApiError::invalid_field(
                "projectId",
                format!(
                    "projectId '{}' is not the project of secret sync {id} ('{}'); a sync \
                     cannot move to another project: leave projectId out, or send '{}'",
                    shorten(p),
                    shorten(&sync.project_id),
                    shorten(&sync.project_id)
                ),
            ));
        }
    }
    if let Some(name) = &body.name {
        check_slug("name", name)?;
    }
    if let Some(e) = &body.environment {
        check_field("environment", e, false)?;
    }
    if let Some(p) = &body.secret_path {
        check_field("secretPath", p, false)?;
    }
    check_settings_text(
        body.destination_config.as_ref().unwrap_or(&Value::Null),
        body.sync_options.as_ref().unwrap_or(&Value::Null),
    )?;
    let changes = DefinitionChanges {
        name: body.name,
        description: body.description,
        connection_id: body.connection_id,
        environment: body.environment,
        secret_path: body.secret_path,
        is_auto_sync_enabled: body.is_auto_sync_enabled,
        sync_options: body.sync_options,
        destination_config: body.destination_config,
    };
    let updated = state
        .syncs
        .update(&caller.acting(TRIGGER), &sync, changes)
        .await?;
    match updated.job_id {
        Some(job_id) => queued_view(&state, id, JobType::Sync, job_id).await,
        None => view(&state, id).await,
    }
}

/// `removeSecrets=true` queues a remove job that deletes the sync once the
/// keys are gone; otherwise the sync is deleted at once, keys left in place.
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
    ValidQuery(q): ValidQuery<DeleteQuery>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    let sync = load(&state, &caller, id, Role::Write).await?;
    let before = view(&state, id).await?;
    match state
        .syncs
        .delete(&caller.acting(TRIGGER), &sync, q.remove_secrets)
        .await?
    {
        Deleted::Now => Ok(before),
        Deleted::Removing(job_id) => {
            // A fast worker may have removed the keys and deleted the row
            // already: the request still succeeded, so answer with the sync
            // as it was when the remove was queued.
            let shown = match view(&state, id).await {
                Err(e) if e.status == StatusCode::NOT_FOUND => before,
                shown => shown?,
            };
            name_queued_job(&state, shown, JobType::Remove, job_id).await
        }
    }
}

pub async fn sync_secrets(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    trigger(&state, &caller, id, JobKind::SYNC).await
}

/// `importBehavior` comes in the query string (as Infisical sends it), in
/// the body (as this API always took it), or both when they agree.
pub async fn import_secrets(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
    ValidQuery(query): ValidQuery<ImportQuery>,
    OptionalJson(body): OptionalJson<ImportBody>,
) -> ApiResult<Json<Value>> {
    let behavior = match (query.import_behavior, body.and_then(|b| b.import_behavior)) {
        (Some(q), Some(b)) if q != b => {
            return Err(ApiError::bad_request(format!(
                "importBehavior is '{}' in the query string but '{}' in the body; send one, \
                 or the same value in both",
                q.as_str(),
                b.as_str()
            )))
        }
        (Some(v), _) | (None, Some(v)) => v,
        (None, None) => {
            return Err(ApiError::bad_request(
                "importBehavior is required: `?importBehavior=prioritize-source` (or \
                 `prioritize-destination`) in the query string, or in the JSON body",
            ))
        }
    };
    trigger(&state, &caller, id, JobKind::Import { behavior }).await
}

pub async fn remove_secrets(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    let kind = JobKind::Remove {
        delete_sync_on_complete: false,
    };
    trigger(&state, &caller, id, kind).await
}

// ---- shared steps ----

pub(super) fn sync_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("secret sync {id} not found"))
}

/// Queues a job of `kind` on the sync for the caller.
async fn trigger(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
    kind: JobKind,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Trigger, caller.token_id)?;
    let sync = load(state, caller, id, Role::Write).await?;
    let job_id = state
        .syncs
        .trigger(&caller.acting(TRIGGER), &sync, kind)
        .await?;
    queued_view(state, id, kind.job_type(), job_id).await
}

/// The sync, if the caller may act on it with `role`. Another project's
/// sync answers as a missing one: whether an id exists elsewhere is none
/// of this caller's business.
pub(super) async fn load(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
    role: Role,
) -> ApiResult<SyncRecord> {
    let sync = state.syncs.load(id, |p| caller.sees(p)).await?;
    caller.require(&sync.project_id, role)?;
    Ok(sync)
}

/// `{"secretSync": …}` right after this request queued `job_id` on it.
async fn queued_view(
    state: &ApiState,
    id: Uuid,
    job_type: JobType,
    job_id: Uuid,
) -> ApiResult<Json<Value>> {
    let shown = view(state, id).await?;
    name_queued_job(state, shown, job_type, job_id).await
}

/// Makes `shown` name the job this request queued. A worker can open a
/// job before the broker confirms it to us, and then the sync row is left
/// to the run (`Store::record_enqueued`), which writes it only once it has
/// gone on for a while or ended: until then the row still names the job
/// before. The job's own row says where it is.
async fn name_queued_job(
    state: &ApiState,
    mut shown: Json<Value>,
    job_type: JobType,
    job_id: Uuid,
) -> ApiResult<Json<Value>> {
    let sync = &mut shown.0["secretSync"];
    let (id_field, _) = job_fields(job_type);
    if sync[id_field] != job_id.to_string().as_str() {
        let status = state
            .store
            .ledger
            .job_state(job_id)
            .await?
            .map_or(JobStatus::Pending, |job| job.status);
        show_job(sync, job_type, job_id, status);
    }
    Ok(shown)
}

/// The API's fields for a type's last job: its id and its status.
fn job_fields(job_type: JobType) -> (&'static str, &'static str) {
    match job_type {
        JobType::Sync => ("lastSyncJobId", "syncStatus"),
        JobType::Import => ("lastImportJobId", "importStatus"),
        JobType::Remove => ("lastRemoveJobId", "removeStatus"),
    }
}

/// Shows `job_id` as the sync's last job of its type, at `status`.
fn show_job(sync: &mut Value, job_type: JobType, job_id: Uuid, status: JobStatus) {
    let (id_field, status_field) = job_fields(job_type);
    sync[id_field] = json!(job_id);
    sync[status_field] = json!(status.as_str());
}

/// `{"secretSync": …}` from the API view.
pub(super) async fn view(state: &ApiState, id: Uuid) -> ApiResult<Json<Value>> {
    let sync = state
        .store
        .syncs
        .sync_api_json(id)
        .await?
        .ok_or_else(|| sync_not_found(id))?;
    Ok(Json(json!({ "secretSync": sync })))
}

pub(crate) async fn require_project(state: &ApiState, project_id: &str) -> ApiResult<()> {
    Ok(state.syncs.require_project(project_id).await?)
}

/// The connection must be a Humanitec connection of the same project.
pub(super) async fn check_connection(
    state: &ApiState,
    project_id: &str,
    id: Uuid,
) -> ApiResult<()> {
    Ok(state.syncs.check_connection(project_id, id).await?)
}

/// The JSON columns' strings carry nothing no layer may (NUL, control and
/// bidi characters, lengths); what they mean is the service's to check.
fn check_settings_text(destination: &Value, options: &Value) -> ApiResult<()> {
    for (field, v) in [("destinationConfig", destination), ("syncOptions", options)] {
        if let Some(map) = v.as_object() {
            for (k, s) in map.iter().filter_map(|(k, s)| s.as_str().map(|s| (k, s))) {
                check_field(&format!("{field}.{k}"), s, false)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_job_is_shown_in_its_types_fields_only() {
        let before = Uuid::new_v4().to_string();
        let mut sync = json!({
            "lastSyncJobId": before, "syncStatus": "succeeded", "lastSyncMessage": "Synced",
            "lastRemoveJobId": null, "removeStatus": null,
        });
        let job = Uuid::new_v4();
        show_job(&mut sync, JobType::Remove, job, JobStatus::Pending);
        assert_eq!(sync["lastRemoveJobId"], job.to_string().as_str());
        assert_eq!(sync["removeStatus"], "pending");
        assert_eq!(sync["lastSyncJobId"], before.as_str());
        assert_eq!(sync["syncStatus"], "succeeded");
        assert_eq!(sync["lastSyncMessage"], "Synced");
    }
}
