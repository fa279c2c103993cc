//! Sync job: push the folder's secrets into Humanitec.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use secrecy::{ExposeSecret, SecretString};

use super::conflicts::{refusal, SyncTarget};
use super::context::{folder_of, settings_of, JobContext};
use super::credentials::connection_token;
use super::error::{summarize_failures, JobError, JobFailure};
use super::job::{BackgroundJob, Fence};
use super::plan::{
    plan_sync, spare_override_bases, validate_keys, PlanOptions, SourceEntry, SyncPlan, Write,
    WriteKind,
};
use super::preview::Preview;
use super::settings::SyncSettings;
use super::source::{load_source, source_entries, Source, SourceSecret};
use crate::humanitec::HumanitecError;
use crate::model::{
    Counts, JobType, KeyChanges, PushedKey, Report, Scope, SyncRecord, UpdatedKey, ValueResponse,
};

/// Everything a sync reads before it writes: one Humanitec listing, the
/// pushed-keys record, and the plan made from them. The run and the preview
/// both start here, so a preview cannot disagree with the run.
pub(super) struct Prepared {
    token: SecretString,
    secrets: Vec<SourceSecret>,
    entries: Vec<SourceEntry>,
    /// The folders besides its own the source came from.
    read: Vec<(String, String)>,
    pub settings: SyncSettings,
    pub plan: SyncPlan,
}

pub(super) async fn prepare(
    ctx: &JobContext,
    sync: &SyncRecord,
    prune_unmanaged: bool,
) -> Result<Prepared, JobError> {
    let folder = folder_of(sync)?;
    let settings = settings_of(sync)?;
    let scope = &settings.scope;
    let (org, app) = scope.org_app();
    // Independent reads at once: one round trip of waiting, not three.
    // Their errors are still reported in this order.
    let (source, others, token) = tokio::join!(
        load_source(ctx, &sync.project_id, folder, settings.recursive),
        ctx.store.syncs.syncs_at_destination(org, app),
        connection_token(ctx, sync),
    );
    let Source { secrets, read } = source?;
    let entries = source_entries(&secrets, &settings.key_schema, &ctx.cipher);
    validate_keys(&entries)?;
    check_conflicts(sync, &settings, &entries, &others?)?;
    let token = token?;
    let destination = scope.label();
    let (listing, pushed) = tokio::join!(
        ctx.humanitec.list_values(&token, scope),
        ctx.store.syncs.pushed_keys(sync.id, &destination),
    );
    let listing = listing.map_err(|e| JobError::humanitec(e, scope))?;
    let pushed = pushed?;
    let mut plan = plan_sync(
        &entries,
        &listing,
        &pushed,
        &settings.key_schema,
        PlanOptions {
            env_scope: scope.is_env(),
            deletion_enabled: settings.deletion_enabled,
            prune_unmanaged,
        },
    )?;
    // Only a pruning app-scope job reads this (the usual run does not).
    if !scope.is_env() && !plan.prunes.is_empty() {
        let bases = ctx
            .store
            .syncs
            .overridden_keys(sync.id, org, app, &plan.prunes)
            .await?;
        plan = spare_override_bases(plan, &bases);
    }
    Ok(Prepared {
        token,
        secrets,
        entries,
        read,
        settings,
        plan,
    })
}

/// Fails before any Humanitec call when another sync writes to the same
/// place with a key schema that can produce the same keys (rows written
/// around the API's check): the two would undo each other on every run.
fn check_conflicts(
    sync: &SyncRecord,
    settings: &SyncSettings,
    entries: &[SourceEntry],
    at_destination: &[SyncRecord],
) -> Result<(), JobError> {
    let this = SyncTarget {
        id: sync.id,
        name: sync.name.clone(),
        scope: settings.scope.clone(),
        schema: settings.key_schema.clone(),
    };
    let dest_keys: Vec<String> = entries.iter().map(|e| e.dest_key.clone()).collect();
    match refusal(&this, &sync.project_id, at_destination, &dest_keys) {
        None => Ok(()),
        Some(refused) => Err(JobError::Failed(JobFailure::Conflict(refused))),
    }
}

/// What the next sync job would do, with one listing and no write.
pub async fn preview_sync(
    ctx: &JobContext,
    sync: &SyncRecord,
    prune_unmanaged: bool,
) -> Result<Preview, JobError> {
    let prepared = prepare(ctx, sync, prune_unmanaged).await?;
    let mut preview = Preview::new(&prepared.settings.scope, &prepared.plan);
    preview.origins = prepared
        .entries
        .iter()
        .zip(&prepared.secrets)
        .map(|(e, s)| (e.dest_key.clone(), s.origin.clone()))
        .collect();
    Ok(preview)
}

/// Pushes the folder's secrets into Humanitec.
pub struct SyncJob {
    /// Also delete Humanitec values no sync manages that the key schema matches.
    pub prune_unmanaged: bool,
}

impl BackgroundJob for SyncJob {
    const JOB_TYPE: JobType = JobType::Sync;

    async fn run<F: Fence>(
        &self,
        ctx: &JobContext,
        fence: &F,
        sync: &SyncRecord,
    ) -> Result<Report, JobError> {
        run_sync(ctx, fence, sync, self.prune_unmanaged).await
    }
}

async fn run_sync<F: Fence>(
    ctx: &JobContext,
    fence: &F,
    sync: &SyncRecord,
    prune_unmanaged: bool,
) -> Result<Report, JobError> {
    // `initialSyncBehavior: import-prioritize-*`: the first run imports
    // Humanitec's readable values into the folder, then reads it.
    let imported = super::import::initial_import(ctx, fence, sync).await?;
    let Prepared {
        token,
        secrets,
        entries,
        read,
        settings,
        plan,
    } = prepare(ctx, sync, prune_unmanaged).await?;
    // Imports and references: a change in those folders auto-syncs this
    // one too. Written only when there are any (a plain folder's sync
    // sends no extra statement; a set emptied since stays until then,
    // costing at most a no-op run).
    if !read.is_empty() {
        ctx.store.syncs.record_sync_sources(sync.id, &read).await?;
    }
    if !plan.writes.is_empty() || !plan.deletes.is_empty() {
        fence.hold().await?;
    }
    let scope = &settings.scope;
    let destination_label = scope.label();

    // Every planned write comes from a source entry: pair them up front.
    let index: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.dest_key.as_str(), i))
        .collect();
    let work: Vec<(Write, usize)> = plan
        .writes
        .iter()
        .filter_map(|w| Some((w.clone(), *index.get(w.dest_key.as_str())?)))
        .collect();
    let writer = &Writer {
        ctx,
        token: &token,
        scope,
    };
    let (secrets, entries) = (&secrets, &entries);
    let results: Vec<(Write, usize, Result<ValueResponse, HumanitecError>)> = stream::iter(work)
        .map(|(write, i)| async move {
            let result = writer
                .write(&write, &secrets[i], &entries[i].description)
                .await;
            (write, i, result)
        })
        .buffer_unordered(ctx.write_concurrency)
        .collect()
        .await;

    let mut counts = Counts {
        unchanged: plan.unchanged.len() as i32,
        skipped: plan.skipped.len() as i32,
        ..Counts::default()
    };
    let mut keys = KeyChanges {
        skipped: plan.skipped.clone(),
        ..KeyChanges::default()
    };
    let mut recorded = Vec::new();
    let mut failures = Vec::new();
    for (write, i, result) in results {
        match result {
            Ok(response) => {
                match write.kind {
                    WriteKind::Create | WriteKind::CreateWithAppBase => {
                        counts.created += 1;
                        keys.created.push(write.dest_key.clone());
                    }
                    WriteKind::Update | WriteKind::Replace => {
                        counts.updated += 1;
                        keys.updated.push(UpdatedKey {
                            key: write.dest_key.clone(),
                            reason: write.reason.as_str().to_string(),
                        });
                    }
                }
                recorded.push(PushedKey {
                    key: write.dest_key.clone(),
                    fingerprint: entries[i].fingerprint.clone(),
                    stamp: response.stamp(),
                    secret_version: response.secret_version,
                });
            }
            Err(e) => failures.push((write.dest_key.clone(), e)),
        }
    }
    // Remember what landed even if other writes failed: a retry then
    // rewrites only the keys that did not.
    ctx.store
        .syncs
        .record_pushes(sync.id, &destination_label, &recorded, &[])
        .await?;
    if !failures.is_empty() {
        return Err(summarize_failures(failures, plan.writes.len(), scope));
    }

    // Deletes last, and only once every write landed.
    let (gone, delete_failures) = delete_keys(ctx, &token, scope, &plan.deletes).await;
    counts.deleted = gone.len() as i32;
    ctx.store
        .syncs
        .record_pushes(sync.id, &destination_label, &[], &gone)
        .await?;
    if !delete_failures.is_empty() {
        return Err(summarize_failures(
            delete_failures,
            plan.deletes.len(),
            scope,
        ));
    }
    keys.deleted = gone;
    let synced = Report::sync(counts, &scope.label(), keys);
    Ok(super::import::after_initial_import(synced, imported))
}

/// Deletes `keys` (bounded parallel); a key already gone counts as deleted.
/// Returns the deleted keys and the failures.
pub(super) async fn delete_keys(
    ctx: &JobContext,
    token: &SecretString,
    scope: &Scope,
    keys: &[String],
) -> (Vec<String>, Vec<(String, HumanitecError)>) {
    let results: Vec<(String, Result<(), HumanitecError>)> = stream::iter(keys.iter().cloned())
        .map(|key| async move {
            let result = match ctx.humanitec.delete_value(token, scope, &key).await {
                Err(e) if e.status() == Some(404) => Ok(()),
                other => other,
            };
            (key, result)
        })
        .buffer_unordered(ctx.write_concurrency)
        .collect()
        .await;
    let mut gone = Vec::new();
    let mut failures = Vec::new();
    for (key, result) in results {
        match result {
            Ok(()) => gone.push(key),
            Err(e) => failures.push((key, e)),
        }
    }
    gone.sort();
    (gone, failures)
}

/// Performs one planned write, recovering from races (a key created or
/// deleted by someone else between the listing and the write).
struct Writer<'a> {
    ctx: &'a JobContext,
    token: &'a SecretString,
    scope: &'a Scope,
}

impl Writer<'_> {
    async fn write(
        &self,
        write: &Write,
        secret: &SourceSecret,
        description: &str,
    ) -> Result<ValueResponse, HumanitecError> {
        let api = &self.ctx.humanitec;
        let key = write.dest_key.as_str();
        let value = secret.value.expose_secret();
        match write.kind {
            WriteKind::CreateWithAppBase => {
                self.ensure_app_base(key, description).await?;
                self.create_or_update(key, value, description).await
            }
            WriteKind::Create => self.create_or_update(key, value, description).await,
            WriteKind::Update => match api
                .update_value(self.token, self.scope, key, value, description)
                .await
            {
                Err(e) if e.status() == Some(404) => {
                    if self.scope.is_env() {
                        self.ensure_app_base(key, description).await?;
                    }
                    self.create_or_update(key, value, description).await
                }
                other => other,
            },
            WriteKind::Replace => {
                match api.delete_value(self.token, self.scope, key).await {
                    Err(e) if e.status() != Some(404) => return Err(e),
                    _ => {}
                }
                self.create_or_update(key, value, description).await
            }
        }
    }

    /// POST as a secret; if the key exists by now, PATCH it.
    async fn create_or_update(
        &self,
        key: &str,
        value: &str,
        description: &str,
    ) -> Result<ValueResponse, HumanitecError> {
        let api = &self.ctx.humanitec;
        match api
            .create_value(self.token, self.scope, key, value, description, true)
            .await
        {
            Err(e) if e.status() == Some(409) => {
                api.update_value(self.token, self.scope, key, value, description)
                    .await
            }
            other => other,
        }
    }

    /// Env scope: Humanitec needs an app-level value before an override can
    /// exist. It gets an empty secret, so nothing readable is left behind.
    async fn ensure_app_base(&self, key: &str, description: &str) -> Result<(), HumanitecError> {
        let app = self.scope.app_scope();
        match self
            .ctx
            .humanitec
            .create_value(self.token, &app, key, "", description, true)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(409) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
