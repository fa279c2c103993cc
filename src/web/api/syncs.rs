//! `/api/v1/secret-syncs/humanitec`: the seed's create, and get, list,
//! update, delete and the three job triggers, with Infisical's paths.
//! Every sync object comes from the `secret_syncs_api` view.

use crate::web::limits::Spend;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use uuid::Uuid;

use super::connection_token::connection_with_token;
use super::validation::{
    check_slug, check_text, page, provided, OptionalJson, PathId, RequestBody, ValidJson,
    ValidQuery,
};
use crate::humanitec::Scope;
use crate::jobs::conflicts::{conflicting, SyncTarget, ANOTHER_PROJECTS_SYNC};
use crate::jobs::settings::SyncSettings;
use crate::model::{normalize_path, AuditEntry, ImportBehavior, JobKind, JobStatus, JobType};
use crate::store::{DestinationCheck, FolderLookup, NewSync, SyncChanges, SyncRecord, Written};
use crate::web::auth::{Caller, Role};
use crate::web::errors::{shorten, ApiError, ApiResult};
use crate::web::state::ApiState;
use crate::web::trigger::{enqueue_for, queue_auto_sync};

/// The trigger recorded on jobs the API enqueues.
const TRIGGER: &str = "api";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
}

fn yes() -> bool {
    true
}

/// Tells "absent" (keep) from `null` (clear) for nullable fields.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSync {
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
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportBody {
    import_behavior: ImportBehavior,
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
    if let Some(d) = &body.description {
        check_text("description", d, true)?;
    }
    check_text("projectId", &body.project_id, false)?;
    caller.require(&body.project_id, Role::Write)?;
    require_project(&state, &body.project_id).await?;
    let folder_id = resolve_folder(
        &state,
        &body.project_id,
        &body.environment,
        &body.secret_path,
    )
    .await?;
    check_connection(&state, &body.project_id, body.connection_id).await?;
    check_settings(
        &body.destination_config,
        &body.sync_options,
        &body.environment,
    )?;
    if state
        .store
        .sync_name_taken(&body.project_id, &body.name, None)
        .await?
    {
        return Err(duplicate_name(&body.name, &body.project_id));
    }
    let rule = DestinationRule::parse(
        &body.project_id,
        None,
        &body.destination_config,
        &body.sync_options,
        &body.environment,
    )?;
    check_reachable(&state, body.connection_id, &rule.settings.scope).await?;
    let new = NewSync {
        name: &body.name,
        description: body.description.as_deref(),
        project_id: &body.project_id,
        folder_id,
        connection_id: body.connection_id,
        is_auto_sync_enabled: body.is_auto_sync_enabled,
        sync_options: &body.sync_options,
        destination_config: &body.destination_config,
    };
    let audit = caller
        .audit("sync.create", "sync", &body.project_id)
        .changes(provided(&[
            ("name", true),
            ("description", body.description.is_some()),
            ("environment", true),
            ("secretPath", true),
            ("connectionId", true),
            ("isAutoSyncEnabled", true),
            ("syncOptions", true),
            ("destinationConfig", true),
        ]));
    let refuse = |at: &[SyncRecord]| rule.refusal(at);
    let check = rule.check(&refuse);
    let sync_id = match state.store.insert_sync(&new, &check, &[audit]).await? {
        Written::Done(id) => id,
        Written::Refused(reason) => return Err(ApiError::unprocessable(reason)),
        Written::DuplicateName | Written::Missing => {
            return Err(duplicate_name(&body.name, &body.project_id))
        }
    };
    tracing::info!(%sync_id, project_id = %body.project_id, "secret sync created");
    if body.is_auto_sync_enabled {
        if let Some(job_id) = queue_auto_sync(&state, &caller, sync_id, TRIGGER).await? {
            return queued_view(&state, sync_id, JobType::Sync, job_id).await;
        }
    }
    view(&state, sync_id).await
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
) -> ApiResult<Json<Value>> {
    let page = page(q.offset, q.limit)?;
    caller.require(&q.project_id, Role::Read)?;
    require_project(&state, &q.project_id).await?;
    let syncs = state.store.syncs_api_json(&q.project_id, page).await?;
    Ok(Json(json!({ "secretSyncs": syncs })))
}

/// Changes take effect on the next job. An auto-synced sync gets a sync
/// job at once when what it syncs changed (folder, connection, options,
/// destination, auto-sync turned on). Keys pushed to a previous
/// destination stay there (see docs/api.md).
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
    ValidJson(body): ValidJson<UpdateSync>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Write, caller.token_id)?;
    let sync = load(&state, &caller, id, Role::Write).await?;
    if let Some(name) = &body.name {
        check_slug("name", name)?;
    }
    if let Some(Some(d)) = &body.description {
        check_text("description", d, true)?;
    }
    let current = sync.folder.as_ref();
    let (folder_id, env_slug) = if body.environment.is_some() || body.secret_path.is_some() {
        let gone = || {
            ApiError::bad_request(
                "this sync's folder no longer exists; send both environment and secretPath",
            )
        };
        let env = match (&body.environment, current) {
            (Some(e), _) => e.clone(),
            (None, Some(f)) => f.environment_slug.clone(),
            (None, None) => return Err(gone()),
        };
        let path = match (&body.secret_path, current) {
            (Some(p), _) => p.clone(),
            (None, Some(f)) => f.path.clone(),
            (None, None) => return Err(gone()),
        };
        let folder = resolve_folder(&state, &sync.project_id, &env, &path).await?;
        (Some(folder), Some(env))
    } else {
        (None, current.map(|f| f.environment_slug.clone()))
    };
    if let Some(c) = body.connection_id {
        check_connection(&state, &sync.project_id, c).await?;
    }
    let destination = body
        .destination_config
        .clone()
        .unwrap_or_else(|| sync.destination_config.clone());
    let options = body
        .sync_options
        .clone()
        .unwrap_or_else(|| sync.sync_options.clone());
    // Without a folder there is no environment to fill into the key schema;
    // any slug checks the schema's shape.
    check_settings(
        &destination,
        &options,
        env_slug.as_deref().unwrap_or("environment"),
    )?;
    if let Some(name) = &body.name {
        if state
            .store
            .sync_name_taken(&sync.project_id, name, Some(id))
            .await?
        {
            return Err(duplicate_name(name, &sync.project_id));
        }
    }
    let rule = DestinationRule::parse(
        &sync.project_id,
        Some(id),
        &destination,
        &options,
        env_slug.as_deref().unwrap_or(""),
    )?;
    // What the sync writes, or with which token, changes: the new pair
    // must reach the destination, and fight no other sync there.
    let writes_elsewhere = body.destination_config.is_some()
        || body.sync_options.is_some()
        || body.connection_id.is_some()
        || body.environment.is_some()
        || body.secret_path.is_some();
    if body.destination_config.is_some() || body.connection_id.is_some() {
        let connection = body.connection_id.unwrap_or(sync.connection_id);
        check_reachable(&state, connection, &rule.settings.scope).await?;
    }
    let changes = SyncChanges {
        name: body.name.clone(),
        description: body.description.clone(),
        folder_id,
        connection_id: body.connection_id,
        is_auto_sync_enabled: body.is_auto_sync_enabled,
        sync_options: body.sync_options,
        destination_config: body.destination_config,
    };
    let audit = caller
        .audit("sync.update", "sync", &sync.project_id)
        .target(id)
        .changes(provided(&[
            ("name", changes.name.is_some()),
            ("description", changes.description.is_some()),
            ("environment/secretPath", changes.folder_id.is_some()),
            ("connectionId", changes.connection_id.is_some()),
            ("isAutoSyncEnabled", changes.is_auto_sync_enabled.is_some()),
            ("syncOptions", changes.sync_options.is_some()),
            ("destinationConfig", changes.destination_config.is_some()),
        ]));
    let refuse = |at: &[SyncRecord]| rule.refusal(at);
    let check = rule.check(&refuse);
    let check = writes_elsewhere.then_some(&check);
    match state
        .store
        .update_sync(id, &changes, check, &[audit])
        .await?
    {
        Written::Done(()) => {}
        Written::Refused(reason) => return Err(ApiError::unprocessable(reason)),
        Written::Missing => return Err(sync_not_found(id)),
        Written::DuplicateName => {
            return Err(duplicate_name(
                body.name.as_deref().unwrap_or(&sync.name),
                &sync.project_id,
            ))
        }
    }
    tracing::info!(sync_id = %id, "secret sync updated");
    // A rename or a new description changes nothing in Humanitec.
    let what_syncs_changed = changes.folder_id.is_some()
        || changes.connection_id.is_some()
        || changes.sync_options.is_some()
        || changes.destination_config.is_some()
        || (changes.is_auto_sync_enabled == Some(true) && !sync.is_auto_sync_enabled);
    let auto = body
        .is_auto_sync_enabled
        .unwrap_or(sync.is_auto_sync_enabled);
    if auto && what_syncs_changed && (folder_id.is_some() || current.is_some()) {
        if let Some(job_id) = queue_auto_sync(&state, &caller, id, TRIGGER).await? {
            return queued_view(&state, id, JobType::Sync, job_id).await;
        }
    }
    view(&state, id).await
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
    if q.remove_secrets {
        let before = view(&state, id).await?;
        let kind = JobKind::Remove {
            delete_sync_on_complete: true,
        };
        let audit = caller
            .audit("sync.delete", "sync", &sync.project_id)
            .target(id)
            .changes(["removeSecrets"]);
        let job_id = enqueue(&state, &caller, audit, id, kind).await?;
        // A fast worker may have removed the keys and deleted the row
        // already: the request still succeeded, so answer with the sync
        // as it was when the remove was queued.
        let shown = match view(&state, id).await {
            Err(e) if e.status == StatusCode::NOT_FOUND => before,
            shown => shown?,
        };
        return name_queued_job(&state, shown, JobType::Remove, job_id).await;
    }
    let shown = view(&state, id).await?;
    let audit = caller
        .audit("sync.delete", "sync", &sync.project_id)
        .target(id);
    if !state.store.delete_sync(id, &[audit]).await? {
        return Err(sync_not_found(id));
    }
    tracing::info!(sync_id = %id, "secret sync deleted");
    Ok(shown)
}

pub async fn sync_secrets(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Trigger, caller.token_id)?;
    let sync = load(&state, &caller, id, Role::Write).await?;
    require_folder(&sync)?;
    let audit = caller.audit("sync.trigger", "sync", &sync.project_id);
    let job_id = enqueue(&state, &caller, audit, id, JobKind::SYNC).await?;
    queued_view(&state, id, JobType::Sync, job_id).await
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
    let behavior = match (query.import_behavior, body.map(|b| b.import_behavior)) {
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
    state.limits.check(Spend::Trigger, caller.token_id)?;
    let sync = load(&state, &caller, id, Role::Write).await?;
    require_folder(&sync)?;
    let kind = JobKind::Import { behavior };
    let audit = caller
        .audit("sync.import", "sync", &sync.project_id)
        .changes([behavior.as_str()]);
    let job_id = enqueue(&state, &caller, audit, id, kind).await?;
    queued_view(&state, id, JobType::Import, job_id).await
}

pub async fn remove_secrets(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Trigger, caller.token_id)?;
    let sync = load(&state, &caller, id, Role::Write).await?;
    let kind = JobKind::Remove {
        delete_sync_on_complete: false,
    };
    let audit = caller.audit("sync.remove", "sync", &sync.project_id);
    let job_id = enqueue(&state, &caller, audit, id, kind).await?;
    queued_view(&state, id, JobType::Remove, job_id).await
}

// ---- shared steps ----

pub(super) fn sync_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("secret sync {id} not found"))
}

fn duplicate_name(name: &str, project_id: &str) -> ApiError {
    ApiError::unprocessable(format!(
        "a secret sync named '{}' already exists in project '{}'; choose another name",
        shorten(name),
        shorten(project_id)
    ))
}

/// The sync, if the caller may act on it with `role`.
pub(super) async fn load(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
    role: Role,
) -> ApiResult<SyncRecord> {
    let sync = state
        .store
        .load_sync(id)
        .await?
        // Another project's sync answers as a missing one: whether an id
        // exists elsewhere is none of this caller's business.
        .filter(|s| caller.sees(&s.project_id))
        .ok_or_else(|| sync_not_found(id))?;
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
        .sync_api_json(id)
        .await?
        .ok_or_else(|| sync_not_found(id))?;
    Ok(Json(json!({ "secretSync": sync })))
}

pub(crate) async fn require_project(state: &ApiState, project_id: &str) -> ApiResult<()> {
    if state.store.project_exists(project_id).await? {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "project '{}' not found",
            shorten(project_id)
        )))
    }
}

fn require_folder(sync: &SyncRecord) -> ApiResult<()> {
    match sync.folder {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_request(format!(
            "secret sync '{}' has no source folder (it was deleted); PATCH it with environment \
             and secretPath first",
            sync.name
        ))),
    }
}

/// `environment` (slug) + `secretPath` to the folder's id, or a 404 that
/// says which of the two is missing.
async fn resolve_folder(
    state: &ApiState,
    project_id: &str,
    environment: &str,
    secret_path: &str,
) -> ApiResult<Uuid> {
    check_text("environment", environment, false)?;
    check_text("secretPath", secret_path, false)?;
    let path = normalize_path(secret_path);
    match state
        .store
        .find_folder(project_id, environment, &path)
        .await?
    {
        FolderLookup::Folder(id) => Ok(id),
        FolderLookup::NoEnvironment => Err(ApiError::not_found(format!(
            "environment '{}' not found in project '{}'",
            shorten(environment),
            shorten(project_id)
        ))),
        FolderLookup::NoFolder => Err(ApiError::not_found(format!(
            "folder '{}' not found in environment '{}' of project '{}'",
            shorten(&path),
            shorten(environment),
            shorten(project_id)
        ))),
    }
}

/// The connection must be a Humanitec connection of the same project.
pub(super) async fn check_connection(
    state: &ApiState,
    project_id: &str,
    id: Uuid,
) -> ApiResult<()> {
    match state.store.connection_api_json(id).await? {
        Some((owner, conn)) if owner == project_id => {
            if conn["app"] == "humanitec" {
                Ok(())
            } else {
                Err(ApiError::bad_request(format!(
                    "app connection {id} is not a Humanitec connection"
                )))
            }
        }
        // Another project's connection is reported as missing: its
        // existence is none of this caller's business.
        _ => Err(ApiError::not_found(format!(
            "Humanitec connection {id} not found in project '{}'",
            shorten(project_id)
        ))),
    }
}

/// What the worker will parse: the key schema and the destination.
fn check_settings(destination: &Value, options: &Value, environment: &str) -> ApiResult<()> {
    for (field, v) in [("destinationConfig", destination), ("syncOptions", options)] {
        if let Some(map) = v.as_object() {
            for (k, s) in map.iter().filter_map(|(k, s)| s.as_str().map(|s| (k, s))) {
                check_text(&format!("{field}.{k}"), s, false)?;
            }
        }
    }
    SyncSettings::parse(destination, options, environment)
        .map(|_| ())
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// What a new or changed sync will write, parsed once, and the rule that
/// refuses a sync fighting another over the same Humanitec values: the
/// same level (app scope of one app, or one environment) and key schemas
/// that can produce the same key (`jobs::conflicts`). The store runs the
/// rule inside the write's transaction, under the destination's lock.
struct DestinationRule {
    project_id: String,
    this: Uuid,
    settings: SyncSettings,
}

impl DestinationRule {
    fn parse(
        project_id: &str,
        this: Option<Uuid>,
        destination: &Value,
        options: &Value,
        environment: &str,
    ) -> ApiResult<DestinationRule> {
        let settings = SyncSettings::parse(destination, options, environment)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(DestinationRule {
            project_id: project_id.to_string(),
            this: this.unwrap_or_else(Uuid::nil),
            settings,
        })
    }

    /// The store's check: this destination's app, and `refuse`.
    fn check<'a>(
        &'a self,
        refuse: &'a (dyn Fn(&[SyncRecord]) -> Option<String> + Send + Sync),
    ) -> DestinationCheck<'a> {
        let (org, app) = match &self.settings.scope {
            Scope::App { org, app } | Scope::Env { org, app, .. } => (org, app),
        };
        DestinationCheck { org, app, refuse }
    }

    /// The 422's message, when a sync at the destination conflicts.
    fn refusal(&self, at_destination: &[SyncRecord]) -> Option<String> {
        let others: Vec<SyncTarget> = at_destination.iter().filter_map(SyncTarget::of).collect();
        let target = SyncTarget {
            id: self.this,
            name: String::new(),
            scope: self.settings.scope.clone(),
            schema: self.settings.key_schema.clone(),
        };
        let other = conflicting(&target, &others).into_iter().next()?;
        let same_project = at_destination
            .iter()
            .any(|r| r.id == other.id && r.project_id == self.project_id);
        // Another project's sync is not named: its name, id and destination
        // are that project's business.
        let whom = if same_project {
            format!(
                "secret sync '{}' ({}, writing to {})",
                shorten(&other.name),
                other.id,
                other.scope.label()
            )
        } else {
            ANOTHER_PROJECTS_SYNC.to_string()
        };
        Some(format!(
            "this sync would write to {} with a key schema that can produce the same keys as \
             {whom}: the two would overwrite and delete each other's keys on every run. Give one \
             of them a distinct keySchema (for example 'PREFIX_{{{{secretKey}}}}') or another \
             destination",
            self.settings.scope.label(),
        ))
    }
}

/// One Humanitec GET with the connection's token: a destination the token
/// cannot read (unknown org, app or environment, or no access) is refused
/// at once with a 422, not found by the first job.
async fn check_reachable(state: &ApiState, connection_id: Uuid, scope: &Scope) -> ApiResult<()> {
    let (conn, token) = connection_with_token(state, connection_id).await?;
    let Err(e) = state.humanitec.list_values(&token, scope).await else {
        return Ok(());
    };
    let destination = scope.label();
    let connection = shorten(&conn.name);
    Err(match e.status() {
        Some(401) => ApiError::unprocessable(format!(
            "Humanitec rejected the API token of connection '{connection}'; PATCH the \
             connection with a current service-user token"
        )),
        Some(403) => ApiError::unprocessable(format!(
            "connection '{connection}' may not read {destination} in Humanitec: give its \
             service user access to the app, or use another connection"
        )),
        Some(400 | 404) => ApiError::unprocessable(format!(
            "Humanitec has no {destination} that connection '{connection}' can see: check \
             org, app{} in destinationConfig",
            if scope.is_env() { " and env" } else { "" }
        )),
        _ if e.is_transient() => ApiError::upstream(
            "could not check the destination with Humanitec; nothing was saved, try again",
            &e,
        ),
        _ => ApiError::unprocessable(format!(
            "could not check {destination} with connection '{connection}': {e}"
        )),
    })
}

/// Queues a job for the caller and records `audit` (see `enqueue_for`).
async fn enqueue(
    state: &ApiState,
    caller: &Caller,
    audit: AuditEntry,
    id: Uuid,
    kind: JobKind,
) -> ApiResult<Uuid> {
    let job_id = enqueue_for(state, caller, audit, id, kind, TRIGGER)
        .await
        .map_err(|e| match e.is_outage() {
            // A node died and the next did not take it either: say so,
            // and that trying again is the thing to do.
            true => ApiError::unavailable(
                "the job could not be queued: RabbitMQ is unavailable (nothing was queued; try again)",
                &e,
            ),
            false => ApiError::internal(
                "the job could not be queued (nothing was queued; try again)",
                &e,
            ),
        })?;
    tracing::info!(sync_id = %id, %job_id, job_type = %kind.job_type().as_str(), "job queued");
    Ok(job_id)
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
