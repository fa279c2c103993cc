//! A sync's job history as the API shows it: newest first, a page at a
//! time (a cursor, not an offset, so new jobs do not shift the pages), with
//! the key names each job touched; and one job's attempts.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::status::{job_row, JobRow};
use crate::model::{JobAttempt, JobStatus, JobType, KeyChanges};
use crate::store::sql::read as sql;
use crate::store::{DashboardReads, StoreError};

/// One job with what only the history shows.
#[derive(Clone, Debug)]
pub struct HistoryJob {
    pub row: JobRow,
    pub max_attempts: i32,
    /// Who asked, where the enqueuer knew (else the trigger says).
    pub actor: Option<String>,
    /// None: it touched no key (or has not finished).
    pub keys: Option<KeyChanges>,
}

/// Which jobs, and from where: `before` is the last job of the previous
/// page (its enqueue time and id).
#[derive(Clone, Debug)]
pub struct HistoryQuery {
    pub job_type: Option<JobType>,
    pub status: Option<JobStatus>,
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

impl DashboardReads {
    pub async fn job_history(
        &self,
        sync_id: Uuid,
        q: &HistoryQuery,
    ) -> Result<Vec<HistoryJob>, StoreError> {
        let client = self.db.client().await?;
        let (before_at, before_id) = q.before.unzip();
        let rows = client
            .query_replanned(
                sql::JOB_HISTORY,
                &[
                    (&sync_id, Type::UUID),
                    (&q.job_type.map(JobType::as_str), Type::TEXT),
                    (&q.status.map(JobStatus::as_str), Type::TEXT),
                    (&before_at, Type::TIMESTAMPTZ),
                    (&before_id, Type::UUID),
                    (&q.limit, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("reading the job history"))?;
        Ok(rows.iter().filter_map(detail).collect())
    }

    /// One job of `sync_id` (None for a job of another sync).
    pub async fn job_detail(
        &self,
        sync_id: Uuid,
        job_id: Uuid,
    ) -> Result<Option<HistoryJob>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(
                sql::JOB_DETAIL,
                &[(&job_id, Type::UUID), (&sync_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("reading a job"))?;
        Ok(row.as_ref().and_then(detail))
    }

    /// Every attempt on record of `job_id`, first first. The caller has
    /// checked that the job is one it may see.
    pub async fn job_attempts(&self, job_id: Uuid) -> Result<Vec<JobAttempt>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::JOB_ATTEMPTS, &[(&job_id, Type::UUID)])
            .await
            .map_err(StoreError::db("reading a job's attempts"))?;
        Ok(rows.iter().map(attempt_row).collect())
    }
}

fn attempt_row(r: &tokio_postgres::Row) -> JobAttempt {
    JobAttempt {
        attempt: r.get(0),
        started_at: r.get(1),
        finished_at: r.get(2),
        outcome: r.get(3),
        message: r.get(4),
        humanitec_status: r.get(5),
        retry_after_ms: r.get(6),
    }
}

fn detail(r: &tokio_postgres::Row) -> Option<HistoryJob> {
    Some(HistoryJob {
        row: job_row(r)?,
        max_attempts: r.get("max_attempts"),
        actor: r.get("actor"),
        keys: r
            .get::<_, Option<serde_json::Value>>("keys")
            .and_then(|v| serde_json::from_value(v).ok()),
    })
}
