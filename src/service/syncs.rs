//! A sync's life as its owners drive it: create, update, delete, trigger,
//! preview. Each parses the sync's definition once into typed settings,
//! applies the rules (the project, folder and connection exist and belong
//! together; the name is free; the destination answers to the token; no
//! other sync writes the same values: `jobs::conflicts::refusal`), writes
//! through the store with its audit entry, and queues what follows.

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;

use super::SyncError;
use crate::crypto::Cipher;
use crate::engine::JobClient;
use crate::humanitec::HumanitecClient;
use crate::jobs::conflicts::{refusal, SyncTarget};
use crate::jobs::settings::SyncSettings;
use crate::jobs::{decrypt_token, preview_sync, JobContext, JobError, JobFailure, Preview};
use crate::model::{normalize_path, shorten, Actor, AuditEntry, JobKind, Scope, SyncRecord};
use crate::store::{
    ConnectionRecord, DestinationCheck, FolderLookup, NewSync, Store, SyncChanges, Written,
};

/// Who acts, as job rows and the audit log name them.
#[derive(Clone, Debug)]
pub struct Acting {
    pub actor: Actor,
    /// The request's id, on audit entries and in messages that point to the log.
    pub req_id: String,
    /// `api` or `dashboard`: on the jobs this queues.
    pub trigger: &'static str,
}

impl Acting {
    fn audit(&self, action: &'static str, project_id: &str) -> AuditEntry {
        AuditEntry::new(self.actor.clone(), action, "sync")
            .project(project_id)
            .req_id(Some(self.req_id.clone()))
    }
}

/// A new sync as its owner describes it (strings already checked for
/// what no layer may carry: NUL, control and bidi characters, length).
pub struct NewDefinition<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub project_id: &'a str,
    pub connection_id: Uuid,
    pub environment: &'a str,
    pub secret_path: &'a str,
    pub is_auto_sync_enabled: bool,
    pub sync_options: &'a Value,
    pub destination_config: &'a Value,
}

/// Changes to a sync; `None` keeps what it has.
#[derive(Default)]
pub struct DefinitionChanges {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub connection_id: Option<Uuid>,
    pub environment: Option<String>,
    pub secret_path: Option<String>,
    pub is_auto_sync_enabled: Option<bool>,
    pub sync_options: Option<Value>,
    pub destination_config: Option<Value>,
}

pub struct Created {
    pub sync_id: Uuid,
    /// The sync job auto-sync queued, when one was.
    pub job_id: Option<Uuid>,
}

pub struct Updated {
    /// The sync job the change queued, when one was.
    pub job_id: Option<Uuid>,
}

pub enum Deleted {
    /// The row is gone; its keys stay in Humanitec.
    Now,
    /// A remove job deletes the row once the keys are gone.
    Removing(Uuid),
}

/// The sync service. Cheap to clone.
#[derive(Clone)]
pub struct SyncService {
    store: Store,
    jobs: Arc<JobClient>,
    humanitec: HumanitecClient,
    cipher: Cipher,
}

impl SyncService {
    pub fn new(
        store: Store,
        jobs: Arc<JobClient>,
        humanitec: HumanitecClient,
        cipher: Cipher,
    ) -> SyncService {
        SyncService {
            store,
            jobs,
            humanitec,
            cipher,
        }
    }

    /// The sync, if `visible` says its project is the caller's: another
    /// project's sync answers as a missing one.
    pub async fn load(
        &self,
        id: Uuid,
        visible: impl Fn(&str) -> bool,
    ) -> Result<SyncRecord, SyncError> {
        self.store
            .syncs
            .load_sync(id)
            .await?
            .filter(|s| visible(&s.project_id))
            .ok_or_else(|| sync_not_found(id))
    }

    pub async fn require_project(&self, project_id: &str) -> Result<(), SyncError> {
        if self.store.auth.project_exists(project_id).await? {
            Ok(())
        } else {
            Err(SyncError::NotFound(format!(
                "project '{}' not found",
                shorten(project_id)
            )))
        }
    }

    /// The connection must be a Humanitec connection of the same project;
    /// another project's answers as a missing one.
    pub async fn check_connection(&self, project_id: &str, id: Uuid) -> Result<(), SyncError> {
        match self.store.syncs.connection_api_json(id).await? {
            Some((owner, conn)) if owner == project_id => {
                if conn["app"] == "humanitec" {
                    Ok(())
                } else {
                    Err(SyncError::Invalid(format!(
                        "app connection {id} is not a Humanitec connection"
                    )))
                }
            }
            _ => Err(SyncError::NotFound(format!(
                "Humanitec connection {id} not found in project '{}'",
                shorten(project_id)
            ))),
        }
    }

    /// The connection row and its decrypted token, for a call to Humanitec
    /// with it (the caller's right to the connection checked before).
    pub async fn connection_token(
        &self,
        id: Uuid,
    ) -> Result<(ConnectionRecord, SecretString), SyncError> {
        let conn = self
            .store
            .syncs
            .load_connection(id)
            .await?
            .ok_or_else(|| SyncError::NotFound(format!("app connection {id} not found")))?;
        let token = decrypt_token(&self.cipher, &conn).map_err(|e| match e {
            JobFailure::Decrypt { .. } => SyncError::Credentials(e),
            other => SyncError::Invalid(other.to_string()),
        })?;
        Ok((conn, token))
    }

    pub async fn create(
        &self,
        acting: &Acting,
        new: NewDefinition<'_>,
        provided: Vec<&str>,
    ) -> Result<Created, SyncError> {
        self.require_project(new.project_id).await?;
        let folder_id = self
            .resolve_folder(new.project_id, new.environment, new.secret_path)
            .await?;
        self.check_connection(new.project_id, new.connection_id)
            .await?;
        let definition = Definition::parse(
            new.project_id,
            None,
            new.name,
            new.destination_config,
            new.sync_options,
            new.environment,
        )?;
        if self
            .store
            .syncs
            .sync_name_taken(new.project_id, new.name, None)
            .await?
        {
            return Err(duplicate_name(new.name, new.project_id));
        }
        self.check_reachable(new.connection_id, &definition.settings.scope)
            .await?;
        let row = NewSync {
            name: new.name,
            description: new.description,
            project_id: new.project_id,
            folder_id,
            connection_id: new.connection_id,
            is_auto_sync_enabled: new.is_auto_sync_enabled,
            sync_options: new.sync_options,
            destination_config: new.destination_config,
        };
        let audit = acting
            .audit("sync.create", new.project_id)
            .changes(provided);
        let refuse = |at: &[SyncRecord]| definition.refusal(at);
        let check = definition.check(&refuse);
        let sync_id = match self.store.syncs.insert_sync(&row, &check, &[audit]).await? {
            Written::Done(id) => id,
            Written::Refused(reason) => return Err(SyncError::Refused(reason)),
            Written::DuplicateName | Written::Missing => {
                return Err(duplicate_name(new.name, new.project_id))
            }
        };
        tracing::info!(%sync_id, project_id = %new.project_id, "secret sync created");
        let job_id = match new.is_auto_sync_enabled {
            true => self.queue_auto_sync(acting, sync_id).await?,
            false => None,
        };
        Ok(Created { sync_id, job_id })
    }

    /// Changes take effect on the next job. An auto-synced sync gets a
    /// sync job at once when what it syncs changed (folder, connection,
    /// options, destination, auto-sync turned on). Keys pushed to a
    /// previous destination stay there (see docs/api.md).
    pub async fn update(
        &self,
        acting: &Acting,
        sync: &SyncRecord,
        body: DefinitionChanges,
    ) -> Result<Updated, SyncError> {
        let id = sync.id;
        let current = sync.folder.as_ref();
        let (folder_id, env_slug) = if body.environment.is_some() || body.secret_path.is_some() {
            let gone = || {
                SyncError::Invalid(
                    "this sync's folder no longer exists; send both environment and secretPath"
                        .into(),
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
            let folder = self.resolve_folder(&sync.project_id, &env, &path).await?;
            (Some(folder), Some(env))
        } else {
            (None, current.map(|f| f.environment_slug.clone()))
        };
        if let Some(c) = body.connection_id {
            self.check_connection(&sync.project_id, c).await?;
        }
        let destination = body
            .destination_config
            .as_ref()
            .unwrap_or(&sync.destination_config);
        let options = body.sync_options.as_ref().unwrap_or(&sync.sync_options);
        // Without a folder there is no environment to fill into the key
        // schema; any slug checks the schema's shape.
        let definition = Definition::parse(
            &sync.project_id,
            Some(id),
            body.name.as_deref().unwrap_or(&sync.name),
            destination,
            options,
            env_slug.as_deref().unwrap_or("environment"),
        )?;
        if let Some(name) = &body.name {
            if self
                .store
                .syncs
                .sync_name_taken(&sync.project_id, name, Some(id))
                .await?
            {
                return Err(duplicate_name(name, &sync.project_id));
            }
        }
        // What the sync writes, or with which token, changes: the new pair
        // must reach the destination, and fight no other sync there.
        let writes_elsewhere = body.destination_config.is_some()
            || body.sync_options.is_some()
            || body.connection_id.is_some()
            || body.environment.is_some()
            || body.secret_path.is_some();
        if body.destination_config.is_some() || body.connection_id.is_some() {
            let connection = body.connection_id.unwrap_or(sync.connection_id);
            self.check_reachable(connection, &definition.settings.scope)
                .await?;
        }
        let changes = SyncChanges {
            name: body.name.clone(),
            description: body.description.clone(),
            folder_id,
            connection_id: body.connection_id,
            is_auto_sync_enabled: body.is_auto_sync_enabled,
            sync_options: body.sync_options.clone(),
            destination_config: body.destination_config.clone(),
        };
        let changed: Vec<&str> = [
            ("name", changes.name.is_some()),
            ("description", changes.description.is_some()),
            ("environment/secretPath", changes.folder_id.is_some()),
            ("connectionId", changes.connection_id.is_some()),
            ("isAutoSyncEnabled", changes.is_auto_sync_enabled.is_some()),
            ("syncOptions", changes.sync_options.is_some()),
            ("destinationConfig", changes.destination_config.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, given)| given.then_some(field))
        .collect();
        let audit = acting
            .audit("sync.update", &sync.project_id)
            .target(id)
            .changes(changed);
        let refuse = |at: &[SyncRecord]| definition.refusal(at);
        let check = definition.check(&refuse);
        let check = writes_elsewhere.then_some(&check);
        match self
            .store
            .syncs
            .update_sync(id, &changes, check, &[audit])
            .await?
        {
            Written::Done(()) => {}
            Written::Refused(reason) => return Err(SyncError::Refused(reason)),
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
        let job_id = if auto && what_syncs_changed && (folder_id.is_some() || current.is_some()) {
            self.queue_auto_sync(acting, id).await?
        } else {
            None
        };
        Ok(Updated { job_id })
    }

    /// `remove_secrets`: a remove job deletes the sync once its keys are
    /// gone; otherwise the sync is deleted at once, keys left in place.
    pub async fn delete(
        &self,
        acting: &Acting,
        sync: &SyncRecord,
        remove_secrets: bool,
    ) -> Result<Deleted, SyncError> {
        let audit = acting
            .audit("sync.delete", &sync.project_id)
            .target(sync.id);
        if remove_secrets {
            let kind = JobKind::Remove {
                delete_sync_on_complete: true,
            };
            let job_id = self
                .enqueue(acting, audit.changes(["removeSecrets"]), sync.id, kind)
                .await?;
            return Ok(Deleted::Removing(job_id));
        }
        if !self.store.syncs.delete_sync(sync.id, &[audit]).await? {
            return Err(sync_not_found(sync.id));
        }
        tracing::info!(sync_id = %sync.id, "secret sync deleted");
        Ok(Deleted::Now)
    }

    /// Queues a sync, import or remove job on the sync. Sync and import
    /// read the source: a sync whose folder is gone is refused.
    pub async fn trigger(
        &self,
        acting: &Acting,
        sync: &SyncRecord,
        kind: JobKind,
    ) -> Result<Uuid, SyncError> {
        let audit = acting.audit(kind.audit_action(), &sync.project_id);
        let audit = match kind {
            JobKind::Import { behavior } => audit.changes([behavior.as_str()]),
            _ => audit,
        };
        if !matches!(kind, JobKind::Remove { .. }) && sync.folder.is_none() {
            return Err(SyncError::Invalid(format!(
                "secret sync '{}' has no source folder (it was deleted); PATCH it with \
                 environment and secretPath first",
                sync.name
            )));
        }
        self.enqueue(acting, audit, sync.id, kind).await
    }

    /// What the next sync job would do, from the job's own planning step
    /// (the same listing, the same conflict rule), with no write. Audited.
    pub async fn preview(
        &self,
        acting: &Acting,
        sync: &SyncRecord,
        prune_unmanaged: bool,
    ) -> Result<Preview, JobError> {
        let audit = acting
            .audit("sync.preview", &sync.project_id)
            .target(sync.id);
        if let Err(e) = self.store.audit.record_audit(&audit).await {
            tracing::error!(sync_id = %sync.id, error = %e,
                "could not write the preview's audit entry");
        }
        let ctx = JobContext {
            store: self.store.clone(),
            humanitec: self.humanitec.clone(),
            cipher: self.cipher.clone(),
            write_concurrency: 1,
        };
        preview_sync(&ctx, sync, prune_unmanaged).await
    }

    /// Queues a job through the one enqueue path, naming the actor on the
    /// job row, then records `audit` (its target the sync, with the job).
    async fn enqueue(
        &self,
        acting: &Acting,
        audit: AuditEntry,
        sync_id: Uuid,
        kind: JobKind,
    ) -> Result<Uuid, SyncError> {
        let job_id = self
            .jobs
            .enqueue_as(sync_id, kind, acting.trigger, Some(acting.actor.label()))
            .await
            .map_err(SyncError::Queue)?;
        let mut audit = audit.target(sync_id);
        audit.changes.push(format!("job:{job_id}"));
        if let Err(e) = self.store.audit.record_audit(&audit).await {
            // The job is queued: that stands; the log says what was not recorded.
            tracing::error!(%sync_id, %job_id, action = audit.action, error = %e,
                "could not write the audit entry of a queued job");
        }
        tracing::info!(%sync_id, %job_id, job_type = %kind.job_type().as_str(), "job queued");
        Ok(job_id)
    }

    /// Queues the sync job turning auto-sync on asks for. The change it
    /// follows is already stored: if the broker is down it stands, and the
    /// sync's row says the job was not queued and how to queue it. Only a
    /// database error is returned; the job's id when one was queued.
    async fn queue_auto_sync(
        &self,
        acting: &Acting,
        sync_id: Uuid,
    ) -> Result<Option<Uuid>, SyncError> {
        let error = match self
            .jobs
            .enqueue_as(
                sync_id,
                JobKind::SYNC,
                acting.trigger,
                Some(acting.actor.label()),
            )
            .await
        {
            Ok(job_id) => {
                tracing::info!(%sync_id, %job_id, "auto-sync on: sync job queued");
                return Ok(Some(job_id));
            }
            Err(e) => e,
        };
        let req_id = &acting.req_id;
        tracing::error!(%req_id, %sync_id, %error, "could not queue the sync job");
        // The broker's error stays in the log: it may name hosts.
        let message = format!(
            "the sync job could not be queued (internal error, {req_id}); queue it with Sync \
             now on the dashboard, or POST /api/v1/secret-syncs/humanitec/{sync_id}/sync-secrets"
        );
        self.store
            .syncs
            .mark_sync_not_enqueued(sync_id, &message)
            .await?;
        Ok(None)
    }

    /// `environment` (slug) + `secretPath` to the folder's id, or a 400
    /// that says which of the two is missing (Infisical answers a missing
    /// folder with 400 BadRequest: "Could not find folder with path …").
    async fn resolve_folder(
        &self,
        project_id: &str,
        environment: &str,
        secret_path: &str,
    ) -> Result<Uuid, SyncError> {
        let path = normalize_path(secret_path);
        match self
            .store
            .syncs
            .find_folder(project_id, environment, &path)
            .await?
        {
            FolderLookup::Folder(id) => Ok(id),
            FolderLookup::NoEnvironment => Err(SyncError::Invalid(format!(
                "environment '{}' not found in project '{}'",
                shorten(environment),
                shorten(project_id)
            ))),
            FolderLookup::NoFolder => Err(SyncError::Invalid(format!(
                "folder '{}' not found in environment '{}' of project '{}'",
                shorten(&path),
                shorten(environment),
                shorten(project_id)
            ))),
        }
    }

    /// One Humanitec GET with the connection's token: a destination the
    /// token cannot read (unknown org, app or environment, or no access)
    /// is refused at once, not found by the first job.
    async fn check_reachable(&self, connection_id: Uuid, scope: &Scope) -> Result<(), SyncError> {
        let (conn, token) = self.connection_token(connection_id).await?;
        let Err(e) = self.humanitec.list_values(&token, scope).await else {
            return Ok(());
        };
        let destination = scope.label();
        let connection = shorten(&conn.name);
        Err(match e.status() {
            Some(401) => SyncError::Refused(format!(
                "Humanitec rejected the API token of connection '{connection}'; PATCH the \
                 connection with a current service-user token"
            )),
            Some(403) => SyncError::Refused(format!(
                "connection '{connection}' may not read {destination} in Humanitec: give its \
                 service user access to the app, or use another connection"
            )),
            Some(400 | 404) => SyncError::Refused(format!(
                "Humanitec has no {destination} that connection '{connection}' can see: check \
                 org, app{} in destinationConfig",
                if scope.is_env() { " and env" } else { "" }
            )),
            _ if e.is_transient() => SyncError::Upstream(e),
            _ => SyncError::Refused(format!(
                "could not check {destination} with connection '{connection}': {e}"
            )),
        })
    }
}

/// What a new or changed sync will write, parsed once, and the conflict
/// rule (`jobs::conflicts::refusal`) that the store runs inside the
/// write's transaction, under the destination's lock.
struct Definition {
    project_id: String,
    target: SyncTarget,
    settings: SyncSettings,
}

impl Definition {
    fn parse(
        project_id: &str,
        this: Option<Uuid>,
        name: &str,
        destination: &Value,
        options: &Value,
        environment: &str,
    ) -> Result<Definition, SyncError> {
        let settings = SyncSettings::parse(destination, options, environment).map_err(|e| {
            SyncError::Validation {
                field: e.field(),
                message: e.to_string(),
            }
        })?;
        Ok(Definition {
            project_id: project_id.to_string(),
            target: SyncTarget {
                id: this.unwrap_or_else(Uuid::nil),
                name: name.to_string(),
                scope: settings.scope.clone(),
                schema: settings.key_schema.clone(),
            },
            settings,
        })
    }

    /// The store's check: this destination's app, and `refuse`.
    fn check<'a>(
        &'a self,
        refuse: &'a (dyn Fn(&[SyncRecord]) -> Option<String> + Send + Sync),
    ) -> DestinationCheck<'a> {
        let (org, app) = self.settings.scope.org_app();
        DestinationCheck { org, app, refuse }
    }

    /// The 422's message, when a sync at the destination conflicts. No
    /// keys are read before the sync exists: the schemas decide.
    fn refusal(&self, at_destination: &[SyncRecord]) -> Option<String> {
        refusal(&self.target, &self.project_id, at_destination, &[]).map(|r| r.to_string())
    }
}

fn sync_not_found(id: Uuid) -> SyncError {
    SyncError::NotFound(format!("secret sync {id} not found"))
}

fn duplicate_name(name: &str, project_id: &str) -> SyncError {
    SyncError::Refused(format!(
        "a secret sync named '{}' already exists in project '{}'; choose another name",
        shorten(name),
        shorten(project_id)
    ))
}
