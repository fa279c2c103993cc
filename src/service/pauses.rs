//! Pausing and resuming Humanitec writes (issue 41), the same way from the
//! API, the dashboard and the command line: the reason is checked here,
//! who acts is recorded on the pause and in the audit log (one
//! transaction), and the workers hear of it at once.

use uuid::Uuid;

use super::error::SyncError;
use crate::model::{check_reason, Actor, AuditEntry};
use crate::store::{PauseRow, Store};

/// What a pause holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PauseScope {
    /// One connection (one Humanitec org and token) of its project.
    Connection { id: Uuid, project_id: String },
    /// Every connection (instance admins only: the faces check).
    Instance,
}

impl PauseScope {
    fn connection(&self) -> Option<(Uuid, &str)> {
        match self {
            PauseScope::Connection { id, project_id } => Some((*id, project_id.as_str())),
            PauseScope::Instance => None,
        }
    }

    fn audit(&self, actor: &Actor, action: &'static str, req_id: Option<String>) -> AuditEntry {
        let entry = match self {
            PauseScope::Connection { project_id, .. } => {
                AuditEntry::new(actor.clone(), action, "connection").project(project_id)
            }
            PauseScope::Instance => AuditEntry::new(actor.clone(), action, "instance"),
        };
        entry.req_id(req_id)
    }

    /// "connection <id>" or "the instance", for messages.
    pub fn words(&self) -> String {
        match self {
            PauseScope::Connection { id, .. } => format!("app connection {id}"),
            PauseScope::Instance => "the instance".into(),
        }
    }
}

/// Who acts: the audit log's actor, the label kept on the pause (an API
/// token's name and id, or `cli (<operator>)`), the request's id.
#[derive(Clone, Debug)]
pub struct PauseActor {
    pub actor: Actor,
    pub label: String,
    pub req_id: Option<String>,
}

/// Pauses `scope` for `reason` (checked: one line of visible text, at most
/// `REASON_MAX` characters). Refused when it is paused already.
pub async fn pause(
    store: &Store,
    scope: &PauseScope,
    reason: &str,
    by: &PauseActor,
) -> Result<PauseRow, SyncError> {
    let reason = check_reason(reason).map_err(|message| SyncError::Validation {
        field: "reason",
        message,
    })?;
    // The audit entry names the change (`reason`), never its text.
    let audit = scope
        .audit(&by.actor, "pause.start", by.req_id.clone())
        .changes(["reason"]);
    let paused = store
        .ledger
        .pause(scope.connection(), &reason, &by.label, &audit)
        .await?;
    let pause = paused.ok_or_else(|| {
        SyncError::Refused(format!(
            "{} is paused already; resume it first to pause it with another reason",
            scope.words()
        ))
    })?;
    tracing::warn!(pause_id = %pause.id, connection_id = ?pause.connection_id,
        paused_by = %pause.paused_by, reason = %pause.reason.escape_debug(),
        "Humanitec writes paused");
    Ok(pause)
}

/// Ends the pause of `scope`; the workers publish the jobs it held (one
/// per sync and kind). Refused when it is not paused.
pub async fn resume(
    store: &Store,
    scope: &PauseScope,
    by: &PauseActor,
) -> Result<PauseRow, SyncError> {
    let audit = scope.audit(&by.actor, "pause.end", by.req_id.clone());
    let connection = scope.connection().map(|(id, _)| id);
    let ended = store.ledger.resume(connection, &by.label, &audit).await?;
    let pause =
        ended.ok_or_else(|| SyncError::Refused(format!("{} is not paused", scope.words())))?;
    tracing::warn!(pause_id = %pause.id, connection_id = ?pause.connection_id,
        resumed_by = %by.label, "Humanitec writes resumed");
    Ok(pause)
}

/// The active pauses that hold syncs of `projects` (None: every pause,
/// for an admin): the instance's, and those of the projects' connections.
pub async fn visible_pauses(
    store: &Store,
    projects: Option<&[String]>,
) -> Result<Vec<PauseRow>, SyncError> {
    let all = store.ledger.active_pauses().await?;
    Ok(all
        .into_iter()
        .filter(|p| match (&p.project_id, projects) {
            (None, _) | (_, None) => true,
            (Some(project), Some(mine)) => mine.iter().any(|m| m == project),
        })
        .collect())
}
