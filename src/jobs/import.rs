//! Import job: pull Humanitec's readable values into the source folder.

use std::collections::HashMap;

use super::context::{folder_of, settings_of, JobContext};
use super::credentials::connection_token;
use super::error::JobError;
use super::job::{BackgroundJob, Fence};
use super::plan::{merge_import, plan_import};
use super::source::load_folder_secrets;
use crate::crypto::{Aad, Column};
use crate::model::{
    Counts, ImportBehavior, JobType, KeyChanges, Report, SyncRecord, UpdatedKey, ValueSource,
};
use crate::store::EncryptedSecret;

/// Pulls Humanitec's readable values into the source folder.
pub struct ImportJob {
    pub behavior: ImportBehavior,
}

impl BackgroundJob for ImportJob {
    const JOB_TYPE: JobType = JobType::Import;

    async fn run<F: Fence>(
        &self,
        ctx: &JobContext,
        fence: &F,
        sync: &SyncRecord,
    ) -> Result<Report, JobError> {
        run_import(ctx, fence, sync, self.behavior).await
    }
}

/// The import a sync's first run does before it pushes, when its
/// `initialSyncBehavior` is `import-prioritize-source` or
/// `import-prioritize-destination` (Infisical imports in its first sync
/// job the same way: the run that has no `lastSyncedAt` yet). In the same
/// job, under the same lease, so nothing can run between the import and
/// the push. `None` for every other run (an `overwrite-destination` sync
/// sends no extra statement).
pub(super) async fn initial_import<F: Fence>(
    ctx: &JobContext,
    fence: &F,
    sync: &SyncRecord,
) -> Result<Option<Report>, JobError> {
    // A row that does not parse fails in `prepare`, in its usual order.
    let Some(behavior) = settings_of(sync).ok().and_then(|s| s.initial_import) else {
        return Ok(None);
    };
    let synced_before = ctx
        .store
        .syncs
        .sync_api_json(sync.id)
        .await?
        .is_some_and(|shown| !shown["lastSyncedAt"].is_null());
    if synced_before {
        return Ok(None);
    }
    run_import(ctx, fence, sync, behavior).await.map(Some)
}

/// A first run's report: the sync's, after the import's message, with the
/// secrets Humanitec would not reveal named per key (`keys.skipped`).
pub(super) fn after_initial_import(synced: Report, imported: Option<Report>) -> Report {
    let Some(imported) = imported else {
        return synced;
    };
    let mut keys = synced.keys;
    keys.skipped.extend(imported.keys.skipped);
    let mut counts = synced.counts;
    counts.skipped += imported.counts.skipped;
    Report {
        message: format!(
            "First sync (initialSyncBehavior import): {}; then {}",
            imported.message, synced.message
        ),
        counts,
        keys: keys.sorted(),
    }
}

async fn run_import<F: Fence>(
    ctx: &JobContext,
    fence: &F,
    sync: &SyncRecord,
    behavior: ImportBehavior,
) -> Result<Report, JobError> {
    let folder = folder_of(sync)?;
    let settings = settings_of(sync)?;
    let token = connection_token(ctx, sync).await?;
    let scope = &settings.scope;
    let listing = ctx
        .humanitec
        .list_values(&token, scope)
        .await
        .map_err(|e| JobError::humanitec(e, scope))?;
    let plan = plan_import(&listing, &settings.key_schema);

    let existing: HashMap<_, _> = load_folder_secrets(ctx, &sync.project_id, folder)
        .await?
        .into_iter()
        .map(|s| (s.key, s.value))
        .collect();
    let merge = merge_import(&plan, &existing, behavior);
    let kept = merge.kept as i32;
    let to_write: Vec<EncryptedSecret> = merge
        .writes
        .iter()
        .map(|entry| EncryptedSecret {
            key: entry.source_key.clone(),
            encrypted_value: ctx.cipher.encrypt_str(
                &entry.value,
                Aad::new(&sync.project_id, Column::SecretValue),
            ),
            encrypted_comment: None,
        })
        .collect();
    if !to_write.is_empty() {
        fence.hold().await?;
    }
    let (created, updated) = ctx
        .store
        .syncs
        .upsert_secrets(folder.id, &to_write, true)
        .await?;
    let counts = Counts {
        created: created.len() as i32,
        updated: updated.len() as i32,
        deleted: 0,
        unchanged: kept,
        skipped: plan.skipped_secrets.len() as i32,
    };
    let mut message = format!(
        "Imported from {} into {}: {} created, {} updated, {} unchanged ({})",
        scope.label(),
        folder.path,
        counts.created,
        counts.updated,
        counts.unchanged,
        match behavior {
            ImportBehavior::PrioritizeSource => "existing source values kept",
            ImportBehavior::PrioritizeDestination => "Humanitec values win",
        }
    );
    if scope.is_env() {
        let from_env = plan
            .entries
            .iter()
            .filter(|e| e.from == ValueSource::Env)
            .count();
        message.push_str(&format!(
            "; {from_env} from environment overrides, {} inherited from the app",
            plan.entries.len() - from_env
        ));
    }
    if !plan.skipped_secrets.is_empty() {
        message.push_str(&format!(
            "; skipped {} secret(s) Humanitec never reveals: {}",
            plan.skipped_secrets.len(),
            plan.skipped_secrets.join(", ")
        ));
    }
    let keys = KeyChanges {
        created,
        updated: updated
            .into_iter()
            .map(|key| UpdatedKey {
                key,
                reason: "imported".into(),
            })
            .collect(),
        deleted: Vec::new(),
        skipped: plan.skipped_secrets.clone(),
    }
    .sorted();
    Ok(Report {
        counts,
        message,
        keys,
    })
}
