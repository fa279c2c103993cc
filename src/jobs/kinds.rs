//! Which job a kind asks for: the one place that knows them all.

use super::context::JobContext;
use super::error::JobError;
use super::import::ImportJob;
use super::job::{BackgroundJob, Fence};
use super::remove::RemoveJob;
use super::sync::SyncJob;
use crate::model::{JobKind, Report, SyncRecord};

/// Runs the job `kind` asks for.
pub async fn run_kind<F: Fence>(
    kind: JobKind,
    ctx: &JobContext,
    fence: &F,
    sync: &SyncRecord,
) -> Result<Report, JobError> {
    match kind {
        JobKind::Sync { prune_unmanaged } => {
            SyncJob { prune_unmanaged }.run(ctx, fence, sync).await
        }
        JobKind::Import { behavior } => ImportJob { behavior }.run(ctx, fence, sync).await,
        JobKind::Remove { .. } => RemoveJob.run(ctx, fence, sync).await,
    }
}
