//! The audit log: one row per control-plane action. Writers that change a
//! row insert the entry in the same transaction (`insert_audit`); actions
//! that are not database writes (triggers, previews, dead letters) record
//! theirs once they succeeded (`record_audit`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::conn::{Db, Session};
use super::sql::audit as sql;
use super::{Audit, StoreError};
use crate::model::AuditEntry;

/// An entry as read back.
#[derive(Clone, Debug)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_token_id: Option<Uuid>,
    pub actor_name: String,
    pub project_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub changes: Vec<String>,
    pub req_id: Option<String>,
}

/// What to list: `projects` is what the caller may see (None: everything,
/// instance-wide entries included, for admins); the rest narrow it down.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub projects: Option<Vec<String>>,
    pub project_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this id (the previous page's last), newest first.
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Inserts `entry` on `db` (a connection, or the transaction of the action).
pub(crate) async fn insert_audit<S: Session>(
    db: &Db<S>,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    let changes = serde_json::Value::from(entry.changes.clone());
    db.execute(
        sql::INSERT_AUDIT,
        &[
            (&entry.actor.kind(), Type::TEXT),
            (&entry.actor.token_id(), Type::UUID),
            (&entry.actor.name(), Type::TEXT),
            (&entry.project_id, Type::TEXT),
            (&entry.action, Type::TEXT),
            (&entry.target_type, Type::TEXT),
            (&entry.target_id, Type::TEXT),
            (&changes, Type::JSONB),
            (&entry.req_id, Type::TEXT),
        ],
    )
    .await
    .map_err(StoreError::db("writing the audit entry"))?;
    Ok(())
}

impl Audit {
    /// Records an action that is not a database write of its own.
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        insert_audit(&client, entry).await
    }

    /// One page of entries, newest first.
    pub async fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        let client = self.db.client().await?;
        let all = f.projects.is_none();
        let projects = f.projects.clone().unwrap_or_default();
        let rows = client
            .query_replanned(
                sql::SELECT_AUDIT_LOG,
                &[
                    (&all, Type::BOOL),
                    (&projects, Type::TEXT_ARRAY),
                    (&f.project_id, Type::TEXT),
                    (&f.actor, Type::TEXT),
                    (&f.action, Type::TEXT),
                    (&f.target_id, Type::TEXT),
                    (&f.since, Type::TIMESTAMPTZ),
                    (&f.until, Type::TIMESTAMPTZ),
                    (&f.before_id, Type::INT8),
                    (&f.limit, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("reading the audit log"))?;
        Ok(rows
            .iter()
            .map(|r| AuditRow {
                id: r.get("id"),
                at: r.get("at"),
                actor_kind: r.get("actor_kind"),
                actor_token_id: r.get("actor_token_id"),
                actor_name: r.get("actor_name"),
                project_id: r.get("project_id"),
                action: r.get("action"),
                target_type: r.get("target_type"),
                target_id: r.get("target_id"),
                changes: serde_json::from_value(r.get("changes")).unwrap_or_default(),
                req_id: r.get("req_id"),
            })
            .collect())
    }

    /// Deletes up to `batch` entries older than `retention`; returns how
    /// many went (call again while it returns `batch`).
    pub async fn delete_old_audit(
        &self,
        retention: Duration,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let client = self.db.client().await?;
        client
            .execute(
                sql::DELETE_OLD_AUDIT,
                &[
                    (&retention.as_secs_f64(), Type::FLOAT8),
                    (&batch, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("deleting old audit entries"))
    }
}
