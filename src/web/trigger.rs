//! The one way the API and the dashboard queue a job for a caller: through
//! the one enqueue path, naming the caller on the job row, then recording
//! the audit entry (its target the sync, with the job that does the work).

use uuid::Uuid;

use super::auth::Caller;
use super::state::ApiState;
use crate::model::{AuditEntry, JobKind};
use crate::queue::QueueError;

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
