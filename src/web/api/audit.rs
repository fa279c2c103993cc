//! `GET /api/v1/audit-logs?projectId=…`: who did what, newest first, with
//! filters (actor, action, target, time range) and a cursor. A project
//! token reads its project's entries; an admin may leave `projectId` out
//! and also reads the instance-wide ones.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::validation::ValidQuery;
use crate::store::{AuditFilter, AuditRow};
use crate::web::auth::{Caller, Role};
use crate::web::errors::{shorten, ApiError, ApiResult};
use crate::web::state::ApiState;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQuery {
    project_id: Option<String>,
    /// A token's name or id, or `cli`, `auto-sync`, `schedule`.
    actor: Option<String>,
    action: Option<String>,
    /// A sync's, connection's or token's id.
    target: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ValidQuery(q): ValidQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT} (got {limit}); page with nextCursor"
        )));
    }
    let projects = match &q.project_id {
        Some(p) => {
            caller.require(p, Role::Read)?;
            Some(vec![p.clone()])
        }
        None if caller.is_admin() => None,
        None => {
            return Err(ApiError::bad_request(
                "projectId is required: the audit log is read one project at a time",
            ))
        }
    };
    let filter = AuditFilter {
        projects,
        project_id: q.project_id.clone(),
        actor: q.actor,
        action: q.action,
        target_id: q.target,
        since: q.since.as_deref().map(|t| time("since", t)).transpose()?,
        until: q.until.as_deref().map(|t| time("until", t)).transpose()?,
        before_id: q.cursor.as_deref().map(cursor).transpose()?,
        limit,
    };
    let rows = state.store.audit.audit_log(&filter).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(json!({
        "auditLogs": rows.iter().map(entry_json).collect::<Vec<_>>(),
        "nextCursor": next,
    })))
}

fn time(name: &str, raw: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name} must be an RFC 3339 time like 2026-12-01T09:00:00Z (got `{}`)",
                shorten(raw)
            ))
        })
}

fn cursor(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::bad_request(
            "cursor is not one this API gave out; pass nextCursor from the previous page as is",
        )
    })
}

pub(crate) fn entry_json(r: &AuditRow) -> Value {
    json!({
        "id": r.id.to_string(),
        "at": r.at,
        "actor": {
            "kind": r.actor_kind,
            "tokenId": r.actor_token_id,
            "name": r.actor_name,
        },
        "projectId": r.project_id,
        "action": r.action,
        "target": { "type": r.target_type, "id": r.target_id },
        "changes": r.changes,
        "reqId": r.req_id,
    })
}
