//! Job rows (`secret_sync_jobs`) and the status columns of `secret_syncs`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::model::{cap_message, Job, JobOutcome, JobStatus, JobType};

/// A job about to run (or be recorded as skipped).
#[derive(Clone, Debug)]
pub struct JobStart {
    pub job: Job,
    pub attempt: i32,
    pub max_attempts: i32,
    pub enqueued_at: DateTime<Utc>,
    pub worker_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobState {
    pub status: JobStatus,
    pub attempt: i32,
}

#[derive(Clone, Debug)]
pub struct StaleJob {
    pub job_id: Uuid,
    pub sync_id: Uuid,
    pub job_type: JobType,
}

/// The four status columns of a job type on `secret_syncs` (static names,
/// so formatting them into SQL is safe).
fn columns(t: JobType) -> (&'static str, &'static str, &'static str, &'static str) {
    match t {
        JobType::Sync => (
            "sync_status",
            "last_sync_job_id",
            "last_sync_message",
            "last_synced_at",
        ),
        JobType::Import => (
            "import_status",
            "last_import_job_id",
            "last_import_message",
            "last_imported_at",
        ),
        JobType::Remove => (
            "remove_status",
            "last_remove_job_id",
            "last_remove_message",
            "last_removed_at",
        ),
    }
}

const UPSERT_JOB: &str = "
    INSERT INTO secret_sync_jobs
        (id, sync_id, type, trigger, status, attempt, max_attempts, enqueued_at,
         started_at, heartbeat_at, worker_id, message, finished_at, next_attempt_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), now(), $9, $10, $11, NULL)
    ON CONFLICT (id) DO UPDATE SET
        status = EXCLUDED.status, attempt = EXCLUDED.attempt,
        max_attempts = EXCLUDED.max_attempts, trigger = EXCLUDED.trigger,
        started_at = now(), heartbeat_at = now(), worker_id = EXCLUDED.worker_id,
        message = EXCLUDED.message, finished_at = EXCLUDED.finished_at,
        next_attempt_at = NULL,
        created_count = 0, updated_count = 0, deleted_count = 0,
        unchanged_count = 0, skipped_count = 0";

/// Inserts or resets the job row for a (re)start or an unrun job.
async fn upsert_job(
    client: &impl deadpool_postgres::GenericClient,
    job: &JobStart,
    status: JobStatus,
    message: Option<String>,
    finished_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    client
        .execute(
            UPSERT_JOB,
            &[
                &job.job.id,
                &job.job.sync_id,
                &job.job.job_type().as_str(),
                &job.job.trigger,
                &status.as_str(),
                &job.attempt,
                &job.max_attempts,
                &job.enqueued_at,
                &job.worker_id,
                &message,
                &finished_at,
            ],
        )
        .await
        .map_err(StoreError::db("writing the job row"))?;
    Ok(())
}

impl Store {
    pub async fn job_state(&self, job_id: Uuid) -> Result<Option<JobState>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT status, attempt FROM secret_sync_jobs WHERE id = $1",
                &[&job_id],
            )
            .await
            .map_err(StoreError::db("reading the job row"))?;
        Ok(row.and_then(|r| {
            JobStatus::parse(r.get::<_, &str>(0)).map(|status| JobState {
                status,
                attempt: r.get(1),
            })
        }))
    }

    /// Start of the latest successful run of this job type for the sync.
    pub async fn latest_success_start(
        &self,
        sync_id: Uuid,
        job_type: JobType,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT max(started_at) FROM secret_sync_jobs
                  WHERE sync_id = $1 AND type = $2 AND status = 'succeeded'",
                &[&sync_id, &job_type.as_str()],
            )
            .await
            .map_err(StoreError::db("reading the latest successful run"))?;
        Ok(row.get(0))
    }

    /// Marks the job and its sync `running`, in one transaction.
    pub async fn start_job(&self, job: &JobStart) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a transaction"))?;
        upsert_job(&tx, job, JobStatus::Running, None, None).await?;
        let (status, job_col, msg_col, _) = columns(job.job.job_type());
        tx.execute(
            &format!(
                "UPDATE secret_syncs SET {status} = 'running', {job_col} = $2, {msg_col} = NULL,
                        updated_at = now() WHERE id = $1"
            ),
            &[&job.job.sync_id, &job.job.id.to_string()],
        )
        .await
        .map_err(StoreError::db("marking the sync running"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing the job start"))
    }

    /// Records how the attempt ended on the job row and (unless skipped) on
    /// the sync row, in one transaction. The sync row is only touched if this
    /// job is still its latest of the type.
    pub async fn finish_job(
        &self,
        job_id: Uuid,
        sync_id: Uuid,
        job_type: JobType,
        outcome: &JobOutcome,
    ) -> Result<(), StoreError> {
        let message = cap_message(&outcome.message);
        let status = outcome.status.as_str();
        let finished = outcome.status.is_final();
        let c = outcome.counts;
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a transaction"))?;
        tx.execute(
            "UPDATE secret_sync_jobs SET status = $2, message = $3,
                    created_count = $4, updated_count = $5, deleted_count = $6,
                    unchanged_count = $7, skipped_count = $8,
                    finished_at = CASE WHEN $9 THEN now() END,
                    next_attempt_at = $10, heartbeat_at = NULL
              WHERE id = $1",
            &[
                &job_id,
                &status,
                &message,
                &c.created,
                &c.updated,
                &c.deleted,
                &c.unchanged,
                &c.skipped,
                &finished,
                &outcome.next_attempt_at,
            ],
        )
        .await
        .map_err(StoreError::db("writing the job result"))?;
        if outcome.status != JobStatus::Skipped {
            let (status_col, job_col, msg_col, at_col) = columns(job_type);
            let succeeded = outcome.status == JobStatus::Succeeded;
            tx.execute(
                &format!(
                    "UPDATE secret_syncs SET {status_col} = $3, {msg_col} = $4,
                            {at_col} = CASE WHEN $5 THEN now() ELSE {at_col} END,
                            updated_at = now()
                      WHERE id = $1 AND ({job_col} IS NULL OR {job_col} = $2)"
                ),
                &[&sync_id, &job_id.to_string(), &status, &message, &succeeded],
            )
            .await
            .map_err(StoreError::db("writing the sync status"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::db("committing the job result"))
    }

    /// Records a job that will not run (superseded, unknown sync, ...): a
    /// finished job row, no change to the sync row.
    pub async fn record_unrun_job(
        &self,
        job: &JobStart,
        status: JobStatus,
        message: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        upsert_job(
            &client,
            job,
            status,
            Some(cap_message(message)),
            Some(Utc::now()),
        )
        .await?;
        Ok(())
    }

    /// Records a job that failed without an outcome of its own (it panicked,
    /// it could not be run for too long, the database refused it for good):
    /// a failed job row, and the sync row unless a newer job owns it.
    pub async fn fail_job(&self, job: &JobStart, message: &str) -> Result<(), StoreError> {
        let message = cap_message(message);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a transaction"))?;
        upsert_job(
            &tx,
            job,
            JobStatus::Failed,
            Some(message.clone()),
            Some(Utc::now()),
        )
        .await?;
        let (status_col, job_col, msg_col, _) = columns(job.job.job_type());
        tx.execute(
            &format!(
                "UPDATE secret_syncs SET {status_col} = 'failed', {job_col} = $2, {msg_col} = $3,
                        updated_at = now()
                  WHERE id = $1 AND ({job_col} IS NULL OR {job_col} = $2)"
            ),
            &[&job.job.sync_id, &job.job.id.to_string(), &message],
        )
        .await
        .map_err(StoreError::db("marking the sync failed"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing the failed job"))
    }

    /// Marks a queued job `pending` on its sync row as soon as it is
    /// published (enqueue command, events), so the API shows it waiting.
    pub async fn record_enqueued(&self, job: &Job) -> Result<(), StoreError> {
        let (job_id, sync_id, job_type) = (job.id, job.sync_id, job.job_type());
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a transaction"))?;
        // If the worker already wrote this job's row (it can finish before
        // we get here), the job speaks for itself: leave the sync row alone.
        // If our insert wins, its row lock holds the worker's start until we commit.
        let inserted = tx
            .query_opt(
                "INSERT INTO secret_sync_jobs (id, sync_id, type, trigger, status)
                 VALUES ($1, $2, $3, $4, 'pending') ON CONFLICT (id) DO NOTHING RETURNING id",
                &[&job_id, &sync_id, &job_type.as_str(), &job.trigger],
            )
            .await
            .map_err(StoreError::db("recording the queued job"))?;
        if inserted.is_none() {
            return tx
                .commit()
                .await
                .map_err(StoreError::db("committing the queued job"));
        }
        let (status_col, job_col, _, _) = columns(job_type);
        // Never overwrite a run in progress: it will report its own status.
        tx.execute(
            &format!(
                "UPDATE secret_syncs SET {status_col} = 'pending', {job_col} = $2, updated_at = now()
                  WHERE id = $1 AND {status_col} IS DISTINCT FROM 'running'"
            ),
            &[&sync_id, &job_id.to_string()],
        )
        .await
        .map_err(StoreError::db("marking the sync pending"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing the queued job"))
    }

    pub async fn heartbeat(&self, job_id: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE secret_sync_jobs SET heartbeat_at = now() WHERE id = $1 AND status = 'running'",
                &[&job_id],
            )
            .await
            .map_err(StoreError::db("writing the job heartbeat"))?;
        Ok(())
    }

    /// Rows left `running` by a worker that died (stale heartbeat) go back
    /// to `pending`: the broker redelivers their message to another worker.
    pub async fn reap_stale_jobs(
        &self,
        stale_after: Duration,
    ) -> Result<Vec<StaleJob>, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::db("starting a transaction"))?;
        let secs = stale_after.as_secs_f64();
        let rows = tx
            .query(
                "UPDATE secret_sync_jobs
                    SET status = 'pending', heartbeat_at = NULL,
                        message = 'the worker running this job stopped; it runs again when the broker redelivers it'
                  WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1)
              RETURNING id, sync_id, type",
                &[&secs],
            )
            .await
            .map_err(StoreError::db("reaping stale jobs"))?;
        let stale: Vec<StaleJob> = rows
            .iter()
            .filter_map(|r| {
                Some(StaleJob {
                    job_id: r.get(0),
                    sync_id: r.get(1),
                    job_type: JobType::parse(r.get(2))?,
                })
            })
            .collect();
        for job in &stale {
            let (status_col, job_col, msg_col, _) = columns(job.job_type);
            tx.execute(
                &format!(
                    "UPDATE secret_syncs SET {status_col} = 'pending',
                            {msg_col} = 'the worker running this job stopped; it runs again when the broker redelivers it',
                            updated_at = now()
                      WHERE id = $1 AND {job_col} = $2 AND {status_col} = 'running'"
                ),
                &[&job.sync_id, &job.job_id.to_string()],
            )
            .await
            .map_err(StoreError::db("reaping a stale sync status"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::db("committing reaped jobs"))?;
        Ok(stale)
    }
}
