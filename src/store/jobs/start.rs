//! What a job needs, under its sync's lease, to decide whether it runs:
//! read (and the queued marker taken) in one statement.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::state::job_state_at;
use crate::model::{Debounce, JobType, PauseNote, StartView, TakenMarker};
use crate::store::sql::jobs as sql;
use crate::store::syncs::sync_from_row;
use crate::store::{JobLedger, StoreError};

impl JobLedger {
    /// Called by the runner holding the sync's lease (so no other run of
    /// the sync can finish meanwhile, and a run that finished before is
    /// visible). It also takes the sync's queued marker if it is this
    /// job's: requests from now on queue a new job, and the job row
    /// records how many requests it absorbed and until when, atomically with
    /// the take (a crash cannot lose what the job covers). A finished job
    /// never holds a marker (it took it when it started), so a duplicate
    /// delivery takes nothing. A plain sync job's marker that requests
    /// still fold into (`debounce`) is left in place, with the time to wait;
    /// so is the marker of a sync a pause holds (`StartView::paused`).
    pub async fn open_leased_job(
        &self,
        sync_id: Uuid,
        job_id: Uuid,
        job_type: JobType,
        debounce: Debounce,
    ) -> Result<StartView, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query_async_commit(
                sql::OPEN_LEASED_JOB,
                &[
                    (&sync_id, Type::UUID),
                    (&job_id, Type::UUID),
                    (&job_type.as_str(), Type::TEXT),
                    (&debounce.quiet.as_secs_f64(), Type::FLOAT8),
                    (&debounce.max_wait.as_secs_f64(), Type::FLOAT8),
                ],
            )
            .await
            .map_err(StoreError::db("opening the job"))?;
        let Some(row) = rows.first() else {
            // `FROM (SELECT 1)` always yields one row.
            return Err(StoreError::Unexpected("opening the job"));
        };
        let marker = match (
            row.get::<_, Option<i32>>("marker_coalesced"),
            row.get::<_, Option<DateTime<Utc>>>("marker_taken_at"),
        ) {
            (Some(coalesced), Some(taken_at)) => Some(TakenMarker {
                coalesced,
                taken_at,
            }),
            _ => None,
        };
        let sync = row.get::<_, Option<Uuid>>("id").map(|_| sync_from_row(row));
        let paused = row
            .get::<_, Option<DateTime<Utc>>>("pause_at")
            .map(|paused_at| PauseNote {
                connection_id: row.get("pause_connection_id"),
                reason: row.get("pause_reason"),
                paused_by: row.get("pause_by"),
                paused_at,
            });
        Ok(StartView {
            state: job_state_at(row, 0),
            sync,
            marker,
            latest_success: row.get("latest_success"),
            debounce_wait: row
                .get::<_, Option<f64>>("debounce_wait")
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok()),
            opened_at: row.get("opened_at"),
            foreign_job: row.get("foreign_job"),
            paused,
        })
    }
}
