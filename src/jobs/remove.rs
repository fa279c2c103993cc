//! Remove job: delete from Humanitec what this sync put there, and nothing
//! else (keys it never pushed stay, whatever their name).

use super::context::JobContext;
use super::credentials::connection_token;
use super::error::{summarize_failures, JobError};
use super::job::{BackgroundJob, Fence};
use super::plan::plan_remove;
use super::settings::parse_scope;
use super::sync::delete_keys;
use crate::model::{unaddressable_note, Counts, JobType, KeyChanges, Report, SyncRecord};

/// Deletes from Humanitec what this sync put there (and, when asked, the
/// sync once they are gone: the engine's part).
pub struct RemoveJob;

impl BackgroundJob for RemoveJob {
    const JOB_TYPE: JobType = JobType::Remove;

    async fn run<F: Fence>(
        &self,
        ctx: &JobContext,
        fence: &F,
        sync: &SyncRecord,
    ) -> Result<Report, JobError> {
        run_remove(ctx, fence, sync).await
    }
}

async fn run_remove<F: Fence>(
    ctx: &JobContext,
    fence: &F,
    sync: &SyncRecord,
) -> Result<Report, JobError> {
    // Only the destination matters: what to delete is what this sync
    // recorded pushing there, so a gone folder or bad options do not block it.
    let scope = &parse_scope(&sync.destination_config)?;
    let token = connection_token(ctx, sync).await?;
    let label = scope.label();
    let pushed: Vec<String> = ctx
        .store
        .syncs
        .pushed_keys(sync.id, &label)
        .await?
        .into_iter()
        .map(|p| p.key)
        .collect();
    let listing = ctx
        .humanitec
        .list_values(&token, scope)
        .await
        .map_err(|e| JobError::humanitec(e, scope))?;
    let plan = plan_remove(&pushed, &listing, scope.is_env());
    fence.hold().await?;
    let (gone, failures) = delete_keys(ctx, &token, scope, &plan.deletes).await;
    // Forget every pushed key that is no longer there, deleted now or before.
    let forgotten: Vec<String> = pushed
        .iter()
        .filter(|k| gone.contains(k) || !listing.iter().any(|v| &v.key == *k))
        .cloned()
        .collect();
    ctx.store
        .syncs
        .record_pushes(sync.id, &label, &[], &forgotten)
        .await?;
    if !failures.is_empty() {
        return Err(summarize_failures(failures, plan.deletes.len(), scope));
    }
    let counts = Counts {
        deleted: gone.len() as i32,
        skipped: plan.skipped.len() as i32,
        ..Counts::default()
    };
    Ok(Report {
        counts,
        message: format!(
            "Removed {} key(s) this sync pushed from {label}{}",
            gone.len(),
            unaddressable_note(&plan.skipped)
        ),
        keys: KeyChanges {
            deleted: gone,
            skipped: plan.skipped,
            ..KeyChanges::default()
        }
        .sorted(),
    })
}
