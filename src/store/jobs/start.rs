//! What a job needs, under its sync's lease, to decide whether it runs:
//! read (and the queued marker taken) in one statement.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::state::job_state_at;
use crate::model::{JobType, StartView, TakenMarker};
use crate::store::syncs::{sync_from_row, SYNC_SELECT};
use crate::store::{Store, StoreError};

impl Store {
    /// Called by the runner holding the sync's lease (so no other run of
    /// the sync can finish meanwhile, and a run that finished before is
    /// visible). For a sync job it also takes the sync's queued marker if it
    /// is this job's: requests from now on queue a new job, and the job row
    /// records how many requests it absorbed and until when, atomically with
    /// the take (a crash cannot lose what the job covers). A finished job
    /// never holds a marker (it took it when it started), so a duplicate
    /// delivery takes nothing.
    pub async fn open_leased_job(
        &self,
        sync_id: Uuid,
        job_id: Uuid,
        job_type: JobType,
    ) -> Result<StartView, StoreError> {
        let client = self.client().await?;
        let takes_marker = job_type == JobType::Sync;
        let rows = client.query_async_commit(
            &format!(
                "WITH m AS (
                    DELETE FROM secret_sync_queued WHERE sync_id = $1 AND job_id = $2 AND $3
                 RETURNING coalesced, clock_timestamp() AS taken_at),
                 covered AS (
                    UPDATE secret_sync_jobs SET coalesced = m.coalesced, covers_until = m.taken_at
                      FROM m WHERE id = $2)
                 SELECT j.status AS job_status, j.attempt AS job_attempt, j.covers_until AS job_covers_until,
                        m.coalesced AS marker_coalesced, m.taken_at AS marker_taken_at,
                        (SELECT max(started_at) FROM secret_sync_jobs
                          WHERE sync_id = $1 AND type = $4 AND status = 'succeeded') AS latest_success,
                        s.*
                   FROM (SELECT 1) AS one
                   LEFT JOIN secret_sync_jobs j ON j.id = $2
                   LEFT JOIN m ON true
                   LEFT JOIN ({SYNC_SELECT} WHERE s.id = $1) AS s ON true"
            ),
            &[
                (&sync_id, Type::UUID),
                (&job_id, Type::UUID),
                (&takes_marker, Type::BOOL),
                (&job_type.as_str(), Type::TEXT),
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
        Ok(StartView {
            state: job_state_at(row, 0),
            sync,
            marker,
            latest_success: row.get("latest_success"),
        })
    }
}
