//! The one way the API and the dashboard queue a job for a caller: through
//! the one enqueue path, naming the caller on the job row, then recording
//! the audit entry (its target the sync, with the job that does the work).
//! And the one way both queue the sync job that turning auto-sync on asks
//! for, which never undoes the change it follows.

use uuid::Uuid;

use super::auth::Caller;
use super::state::ApiState;
use crate::model::{AuditEntry, JobKind};
use crate::queue::QueueError;
use crate::store::StoreError;

pub async fn enqueue_for(
    state: &ApiState,
    caller: &Caller,
    audit: AuditEntry,
    sync_id: Uuid,
    kind: JobKind,
    trigger: &str,
) -> Result<Uuid, QueueError> {
    let actor = Some(caller.actor().label());
    let job_id = state.jobs.enqueue_as(sync_id, kind, trigger, actor).await?;
    let mut audit = audit.target(sync_id);
    audit.changes.push(format!("job:{job_id}"));
    if let Err(e) = state.store.record_audit(&audit).await {
        // The job is queued: that stands; the log says what was not recorded.
        tracing::error!(%sync_id, %job_id, action = audit.action, error = %e,
            "could not write the audit entry of a queued job");
    }
    Ok(job_id)
}

/// Queues the sync job a sync gets when auto-sync is turned on (by the
/// create or update call, or the dashboard's switch). The change it follows
/// is already stored: if the broker is down it stands, and the sync's row
/// says the job was not queued and how to queue it. Only a database error
/// is returned; the job's id when one was queued.
pub async fn queue_auto_sync(
    state: &ApiState,
    caller: &Caller,
    sync_id: Uuid,
    trigger: &str,
) -> Result<Option<Uuid>, StoreError> {
    let actor = Some(caller.actor().label());
    let error = match state
        .jobs
        .enqueue_as(sync_id, JobKind::SYNC, trigger, actor)
        .await
    {
        Ok(job_id) => {
            tracing::info!(%sync_id, %job_id, "auto-sync on: sync job queued");
            return Ok(Some(job_id));
        }
        Err(e) => e,
    };
    let req_id = super::errors::current_req_id();
    tracing::error!(%req_id, %sync_id, %error, "could not queue the sync job");
    // The broker's error stays in the log: it may name hosts.
    let message = format!(
        "the sync job could not be queued (internal error, {req_id}); queue it with Sync now \
         on the dashboard, or POST /api/v1/secret-syncs/humanitec/{sync_id}/sync-secrets"
    );
    state
        .store
        .mark_sync_not_enqueued(sync_id, &message)
        .await?;
    Ok(None)
}
