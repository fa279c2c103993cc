//! Read-only views for operators (`secret-sync status`) and the dashboard.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::model::{JobStatus, JobType};
use crate::store::sql::read as sql;
use crate::store::{DashboardReads, StoreError};

#[derive(Clone, Debug, Serialize)]
pub struct SyncStatusRow {
    pub id: Uuid,
    pub name: String,
    pub destination: serde_json::Value,
    pub sync_status: Option<JobStatus>,
    pub last_sync_message: Option<String>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub import_status: Option<JobStatus>,
    pub remove_status: Option<JobStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct JobRow {
    pub id: Uuid,
    pub sync_id: Uuid,
    pub job_type: JobType,
    pub trigger: Option<String>,
    pub status: JobStatus,
    pub attempt: i32,
    pub message: Option<String>,
    pub created: i32,
    pub updated: i32,
    pub deleted: i32,
    pub unchanged: i32,
    pub skipped: i32,
    pub enqueued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Enqueue requests (events, triggers) this job absorbed.
    pub coalesced: i32,
    pub worker_id: Option<String>,
}

impl DashboardReads {
    pub async fn sync_statuses(
        &self,
        only: Option<Uuid>,
    ) -> Result<Vec<SyncStatusRow>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::SYNC_STATUSES, &[(&only, Type::UUID)])
            .await
            .map_err(StoreError::db("listing syncs"))?;
        Ok(rows
            .iter()
            .map(|r| SyncStatusRow {
                id: r.get(0),
                name: r.get(1),
                destination: r.get(2),
                sync_status: status_of(r.get(3)),
                last_sync_message: r.get(4),
                last_synced_at: r.get(5),
                import_status: status_of(r.get(6)),
                remove_status: status_of(r.get(7)),
            })
            .collect())
    }

    /// Latest jobs, newest first; of one sync when `sync_id` is given.
    pub async fn recent_jobs(
        &self,
        sync_id: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<JobRow>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query_replanned(
                sql::RECENT_JOBS,
                &[(&sync_id, Type::UUID), (&limit, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("listing jobs"))?;
        Ok(rows.iter().filter_map(job_row).collect())
    }

    pub async fn job(&self, job_id: Uuid) -> Result<Option<JobRow>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::SELECT_JOB, &[(&job_id, Type::UUID)])
            .await
            .map_err(StoreError::db("reading a job"))?;
        Ok(row.as_ref().and_then(job_row))
    }
}

fn status_of(column: Option<&str>) -> Option<JobStatus> {
    column.and_then(JobStatus::parse)
}

/// A job row from the columns of `read/select_job.sql` (which
/// `recent_jobs.sql`, `job_history.sql` and `job_detail.sql` start with);
/// `None` for a type or status the schema's checks rule out.
pub(super) fn job_row(r: &tokio_postgres::Row) -> Option<JobRow> {
    Some(JobRow {
        id: r.get(0),
        sync_id: r.get(1),
        job_type: JobType::parse(r.get(2))?,
        trigger: r.get(3),
        status: JobStatus::parse(r.get(4))?,
        attempt: r.get(5),
        message: r.get(6),
        created: r.get(7),
        updated: r.get(8),
        deleted: r.get(9),
        unchanged: r.get(10),
        skipped: r.get(11),
        enqueued_at: r.get(12),
        started_at: r.get(13),
        finished_at: r.get(14),
        next_attempt_at: r.get(15),
        coalesced: r.get(16),
        worker_id: r.get(17),
    })
}
