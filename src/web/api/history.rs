//! `GET …/{syncId}/jobs` and `GET …/{syncId}/jobs/{jobId}`: a sync's job
//! history, newest first, a page at a time (an opaque cursor), with the key
//! names each job touched and why (names only, never values); one job also
//! lists every attempt on record.

use axum::extract::{Path, State};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::syncs::load;
use super::validation::{path_uuid, PathId, ValidQuery};
use crate::model::{JobAttempt, JobStatus, JobType, KeyChanges};
use crate::store::{HistoryJob, HistoryQuery};
use crate::web::auth::{Caller, Role};
use crate::web::errors::{shorten, ApiError, ApiResult};
use crate::web::state::ApiState;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobsQuery {
    #[serde(rename = "type")]
    job_type: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(sync_id): PathId,
    ValidQuery(q): ValidQuery<JobsQuery>,
) -> ApiResult<Json<Value>> {
    let query = HistoryQuery {
        job_type: q.job_type.as_deref().map(parse_type).transpose()?,
        status: q.status.as_deref().map(parse_status).transpose()?,
        before: q.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: limit(q.limit)?,
    };
    load(&state, &caller, sync_id, Role::Read).await?;
    let jobs = state.store.reads.job_history(sync_id, &query).await?;
    let next = (jobs.len() as i64 == query.limit)
        .then(|| {
            jobs.last()
                .map(|j| encode_cursor(j.row.enqueued_at, j.row.id))
        })
        .flatten();
    Ok(Json(json!({
        "jobs": jobs.iter().map(job_json).collect::<Vec<_>>(),
        "nextCursor": next,
    })))
}

pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path((sync, job)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let sync_id = path_uuid(&sync)?;
    let job_id = path_uuid(&job)?;
    load(&state, &caller, sync_id, Role::Read).await?;
    let job = state
        .store
        .reads
        .job_detail(sync_id, job_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("job {job_id} of secret sync {sync_id} not found"))
        })?;
    let attempts = state.store.reads.job_attempts(job_id).await?;
    let mut job = job_json(&job);
    job["attempts"] = attempts.iter().map(attempt_json).collect();
    Ok(Json(json!({ "job": job })))
}

/// One attempt as `GET …/jobs/{jobId}` lists it.
fn attempt_json(a: &JobAttempt) -> Value {
    json!({
        "attempt": a.attempt,
        "startedAt": a.started_at,
        "finishedAt": a.finished_at,
        "outcome": a.outcome,
        "message": a.message,
        "humanitecStatus": a.humanitec_status,
        "retryAfterMs": a.retry_after_ms,
    })
}

fn parse_type(raw: &str) -> ApiResult<JobType> {
    JobType::parse(raw).ok_or_else(|| {
        ApiError::bad_request(format!(
            "type must be sync, import or remove (got `{}`)",
            shorten(raw)
        ))
    })
}

fn parse_status(raw: &str) -> ApiResult<JobStatus> {
    JobStatus::parse(raw).ok_or_else(|| {
        let all: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::bad_request(format!(
            "status must be one of {} (got `{}`)",
            all.join(", "),
            shorten(raw)
        ))
    })
}

fn limit(raw: Option<i64>) -> ApiResult<i64> {
    let limit = raw.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT} (got {limit}); page with nextCursor"
        )))
    }
}

/// `<enqueued_at>|<id>`, base64url: opaque to clients.
pub(super) fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    let raw = format!("{}|{id}", at.to_rfc3339_opts(SecondsFormat::Micros, true));
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str) -> ApiResult<(DateTime<Utc>, Uuid)> {
    let bad = || {
        ApiError::bad_request(
            "cursor is not one this API gave out; pass nextCursor from the previous page as is",
        )
    };
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = raw.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((at.with_timezone(&Utc), id))
}

fn job_json(j: &HistoryJob) -> Value {
    let r = &j.row;
    let keys = j.keys.clone().unwrap_or_default();
    json!({
        "id": r.id,
        "syncId": r.sync_id,
        "type": r.job_type.as_str(),
        "trigger": r.trigger,
        "actor": j.actor.clone().or_else(|| r.trigger.clone()),
        "status": r.status.as_str(),
        "attempt": r.attempt,
        "maxAttempts": j.max_attempts,
        "enqueuedAt": r.enqueued_at,
        "startedAt": r.started_at,
        "finishedAt": r.finished_at,
        "nextAttemptAt": r.next_attempt_at,
        "coalesced": r.coalesced,
        "message": r.message,
        "counts": {
            "created": r.created,
            "updated": r.updated,
            "deleted": r.deleted,
            "unchanged": r.unchanged,
            "skipped": r.skipped,
        },
        "keys": keys_json(&keys),
    })
}

fn keys_json(k: &KeyChanges) -> Value {
    json!({
        "created": k.created,
        "updated": k.updated.iter().map(|u| json!({"key": u.key, "reason": u.reason})).collect::<Vec<_>>(),
        "deleted": k.deleted,
        "skipped": k.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let at = Utc::now();
        let id = Uuid::new_v4();
        let (back_at, back_id) = decode_cursor(&encode_cursor(at, id)).expect("ours");
        assert_eq!(back_id, id);
        assert_eq!(back_at.timestamp_micros(), at.timestamp_micros());
        for bad in ["", "not base64!", &URL_SAFE_NO_PAD.encode("x|y")] {
            assert_eq!(
                decode_cursor(bad).err().map(|e| e.status.as_u16()),
                Some(400)
            );
        }
    }
}
