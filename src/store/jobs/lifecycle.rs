//! A job's life on its rows: started, finished, failed, unrun, enqueued,
//! beating, handed back, reaped (`secret_sync_jobs` and the job type's
//! status columns of `secret_syncs`).
//!
//! Lock order: a writer that locks more than one of a job's rows locks
//! its sync's queued marker, then the sync row, then the job row. Two
//! writers that took them in opposite orders would deadlock (Postgres
//! breaks that by failing one, and the job runs again). The reaper, which
//! may meet any of them, never waits: it skips a locked row until its next
//! round.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use tokio_postgres::types::Type;

use super::completer::Finish;
use super::lease::{release_lease_in, SyncLease};
use super::state::{job_state_at, JobStart};
use crate::model::{cap_message, Job, JobKind, JobOutcome, JobState, JobStatus, JobType};
use crate::store::conn::{Param, Tx};
use crate::store::sql::{jobs as sql, Sql};
use crate::store::{JobLedger, StoreError};

#[derive(Clone, Debug)]
pub struct StaleJob {
    pub job_id: Uuid,
    pub sync_id: Uuid,
    pub job_type: JobType,
}

/// A job row that stayed `pending` with no message behind it, and what
/// becomes of it.
#[derive(Clone, Debug)]
pub struct OrphanedJob {
    pub job_id: Uuid,
    pub sync_id: Uuid,
    pub job_type: JobType,
    pub fate: OrphanFate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrphanFate {
    /// Published again as the kind it was queued as.
    Republish(JobKind),
    /// It cannot be run as it was asked: it is failed with this message,
    /// rather than claimed again every round and never run.
    Fail(String),
}

/// The kind an orphaned row is published again as: the one it was queued
/// as, or for a row queued before kinds were kept, its type's plain kind.
/// An import of that age (its behaviour cannot be guessed) or a kind this
/// version does not know (queued by a newer one) is failed, saying so.
fn orphan_fate(key: Option<&str>, job_type: JobType) -> OrphanFate {
    match (key, job_type) {
        (Some(key), _) => match JobKind::from_key(key) {
            Some(kind) if kind.job_type() == job_type => OrphanFate::Republish(kind),
            _ => OrphanFate::Fail(cap_message(&format!(
                "this {} job was queued as '{key}', which this version of secret-sync does not \
                 run (was it queued by a newer version?), and no worker took it in time (its \
                 message is taken to be lost); it did not run: trigger it again",
                job_type.as_str()
            ))),
        },
        (None, JobType::Sync) => OrphanFate::Republish(JobKind::SYNC),
        (None, JobType::Remove) => OrphanFate::Republish(JobKind::Remove {
            delete_sync_on_complete: false,
        }),
        (None, JobType::Import) => OrphanFate::Fail(
            "this import was queued by a version of secret-sync that did not record the import's \
             behaviour, and no worker took it in time (its message is taken to be lost); it \
             did not run: trigger the import again"
                .into(),
        ),
    }
}

/// A statement written once per job type: each variant writes that
/// type's status columns of `secret_syncs` (`sync_status`,
/// `last_sync_job_id`, ...), and is otherwise the same text (checked in
/// `sql/mod.rs`). Fixed variants rather than a parameter: they are on the
/// job path, prepared, and each keeps a plan for the columns it writes.
struct ByJobType {
    sync: Sql,
    import: Sql,
    remove: Sql,
}

impl ByJobType {
    fn of(&self, job_type: JobType) -> Sql {
        match job_type {
            JobType::Sync => self.sync,
            JobType::Import => self.import,
            JobType::Remove => self.remove,
        }
    }
}

/// `start_job`: the job row's upsert, then its sync's status columns.
const START: ByJobType = ByJobType {
    sync: sql::START_JOB_SYNC,
    import: sql::START_JOB_IMPORT,
    remove: sql::START_JOB_REMOVE,
};

/// `finish_job`: the outcome on the job row and the sync's status columns,
/// and the lease released (a successful remove that deletes its sync has
/// `sql::FINISH_JOB_DELETING_SYNC` instead).
const FINISH: ByJobType = ByJobType {
    sync: sql::FINISH_JOB_SYNC,
    import: sql::FINISH_JOB_IMPORT,
    remove: sql::FINISH_JOB_REMOVE,
};

/// `fail_job`, `fail_orphan`: the sync row, unless a newer job owns it.
const FAIL: ByJobType = ByJobType {
    sync: sql::FAIL_SYNC_STATUS_SYNC,
    import: sql::FAIL_SYNC_STATUS_IMPORT,
    remove: sql::FAIL_SYNC_STATUS_REMOVE,
};

/// `record_enqueued`: never overwrites a run in progress.
const ENQUEUED: ByJobType = ByJobType {
    sync: sql::SHOW_SYNC_PENDING_SYNC,
    import: sql::SHOW_SYNC_PENDING_IMPORT,
    remove: sql::SHOW_SYNC_PENDING_REMOVE,
};

/// `hand_back_job`: the sync row, if the job's run still shows on it.
const HANDED_BACK: ByJobType = ByJobType {
    sync: sql::HAND_BACK_SYNC_STATUS_SYNC,
    import: sql::HAND_BACK_SYNC_STATUS_IMPORT,
    remove: sql::HAND_BACK_SYNC_STATUS_REMOVE,
};

/// `reap_stale_jobs`: the sync row, if the dead run still shows on it.
const REAPED: ByJobType = ByJobType {
    sync: sql::REAP_SYNC_STATUS_SYNC,
    import: sql::REAP_SYNC_STATUS_IMPORT,
    remove: sql::REAP_SYNC_STATUS_REMOVE,
};

/// The values `sql::UPSERT_JOB` (and `START`) binds, $1 to $14.
struct UpsertValues<'a> {
    job: &'a JobStart,
    job_type: &'static str,
    status: &'static str,
    message: Option<String>,
    finished_at: Option<DateTime<Utc>>,
}

impl<'a> UpsertValues<'a> {
    fn new(
        job: &'a JobStart,
        status: JobStatus,
        message: Option<String>,
        finished_at: Option<DateTime<Utc>>,
    ) -> Self {
        UpsertValues {
            job,
            job_type: job.job.job_type().as_str(),
            status: status.as_str(),
            message,
            finished_at,
        }
    }

    fn params(&self) -> [Param<'_>; 14] {
        let job = self.job;
        [
            (&job.job.id, Type::UUID),
            (&job.job.sync_id, Type::UUID),
            (&self.job_type, Type::TEXT),
            (&job.job.trigger, Type::TEXT),
            (&self.status, Type::TEXT),
            (&job.attempt, Type::INT4),
            (&job.max_attempts, Type::INT4),
            (&job.enqueued_at, Type::TIMESTAMPTZ),
            (&job.worker_id, Type::TEXT),
            (&self.message, Type::TEXT),
            (&self.finished_at, Type::TIMESTAMPTZ),
            (&job.coalesced, Type::INT4),
            (&job.covers_until, Type::TIMESTAMPTZ),
            (&job.started_at, Type::TIMESTAMPTZ),
        ]
    }
}

/// The job a failure is recorded for: what `note_failure` and
/// `fail_sync_row` need of it.
struct FailedJob {
    sync_id: Uuid,
    id: Uuid,
    job_type: JobType,
}

impl From<&Job> for FailedJob {
    fn from(job: &Job) -> FailedJob {
        FailedJob {
            sync_id: job.sync_id,
            id: job.id,
            job_type: job.job_type(),
        }
    }
}

/// Queues the failure's notifications.
async fn note_failure(tx: &Tx<'_>, job: &FailedJob, message: &str) -> Result<(), StoreError> {
    tx.execute(
        sql::INSERT_FAILURE_NOTICE,
        &[
            (&job.sync_id, Type::UUID),
            (&job.id, Type::UUID),
            (&job.job_type.as_str(), Type::TEXT),
            (&message, Type::TEXT),
        ],
    )
    .await
    .map_err(StoreError::db("noting the failure for notification"))?;
    Ok(())
}

/// Marks the sync failed by this job unless a newer job owns its row.
async fn fail_sync_row(tx: &Tx<'_>, job: &FailedJob, message: &str) -> Result<(), StoreError> {
    tx.execute(
        FAIL.of(job.job_type),
        &[
            (&job.sync_id, Type::UUID),
            (&job.id.to_string(), Type::TEXT),
            (&message, Type::TEXT),
        ],
    )
    .await
    .map_err(StoreError::db("marking the sync failed"))?;
    Ok(())
}

/// Inserts or resets the job row for a (re)start or an unrun job.
async fn upsert_job(
    client: &Tx<'_>,
    job: &JobStart,
    status: JobStatus,
    message: Option<String>,
    finished_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let values = UpsertValues::new(job, status, message, finished_at);
    client
        .execute(sql::UPSERT_JOB, &values.params())
        .await
        .map_err(StoreError::db("writing the job row"))?;
    Ok(())
}

impl JobLedger {
    pub async fn job_state(&self, job_id: Uuid) -> Result<Option<JobState>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::SELECT_JOB_STATE, &[(&job_id, Type::UUID)])
            .await
            .map_err(StoreError::db("reading the job row"))?;
        Ok(row.as_ref().and_then(|r| job_state_at(r, 0)))
    }

    /// Marks the job and its sync `running`, for a run that goes on long
    /// enough to be watched (`SHOW_RUNNING_AFTER`; a shorter one is
    /// recorded by `finish_job` alone). The sync row is locked first (the
    /// lock order): the run's heartbeat, beside it, locks the sync row and
    /// then the job row.
    pub async fn start_job(&self, job: &JobStart) -> Result<(), StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        tx.commit_asynchronously()
            .await
            .map_err(StoreError::db("starting a transaction"))?;
        tx.execute(sql::LOCK_SYNC_ROW, &[(&job.job.sync_id, Type::UUID)])
            .await
            .map_err(StoreError::db("locking the sync row"))?;
        tx.execute(
            START.of(job.job.job_type()),
            &UpsertValues::new(job, JobStatus::Running, None, None).params(),
        )
        .await
        .map_err(StoreError::db("marking the job and its sync running"))?;
        tx.commit("committing the running job").await
    }

    /// Records how the attempt ended on the job row (the whole row: a run
    /// too short to have called `start_job` is recorded here alone), on
    /// the attempt's own record (`secret_sync_job_attempts`) and on the
    /// sync row, and releases the sync's lease, in one statement, with
    /// a durable commit (the delivery is acknowledged after this), shared
    /// with the outcomes of runs that end at the same time (`completer`).
    /// With `delete_sync` (a remove job's
    /// `deleteSyncOnComplete`), a success deletes the sync row instead, in
    /// the same statement, so nobody sees the job succeeded with the row
    /// still there. Returns false, writing nothing, if the lease is no
    /// longer ours: another run took it, so this run must not write its
    /// outcome.
    pub async fn finish_job(
        &self,
        job: &JobStart,
        outcome: &JobOutcome,
        lease: &SyncLease,
        delete_sync: bool,
    ) -> Result<bool, StoreError> {
        let job_type = job.job.job_type();
        let succeeded = outcome.status == JobStatus::Succeeded;
        // Key names only when some key was touched: a no-op run stores none.
        let keys = (!outcome.keys.is_empty())
            .then(|| serde_json::to_value(&outcome.keys))
            .transpose()
            .map_err(|_| StoreError::Unexpected("encoding the job's key names"))?;
        let finish = Finish {
            start: job.clone(),
            lease_token: lease.token,
            status: outcome.status.as_str(),
            message: cap_message(&outcome.message),
            counts: outcome.counts,
            finished: outcome.status.is_final(),
            succeeded,
            shown: outcome.status != JobStatus::Skipped,
            next_attempt_at: outcome.next_attempt_at,
            keys,
            humanitec_status: outcome.humanitec_status.map(i32::from),
            retry_after_ms: outcome
                .retry_after
                .map(|d| i32::try_from(d.as_millis()).unwrap_or(i32::MAX)),
        };
        let statement = if delete_sync && succeeded {
            sql::FINISH_JOB_DELETING_SYNC
        } else {
            FINISH.of(job_type)
        };
        // Nothing written means the fence failed.
        self.completer.finish(&self.db, statement, finish).await
    }

    /// Records a job that will not run (superseded, unknown sync, ...): a
    /// finished job row, no change to the sync row. If the job was its
    /// sync's queued marker, the marker goes too; `lease`, if given, is
    /// released in the same transaction.
    pub async fn record_unrun_job(
        &self,
        job: &JobStart,
        status: JobStatus,
        message: &str,
        lease: Option<&SyncLease>,
    ) -> Result<(), StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        // Marker, sync row, job row: the lock order.
        tx.execute(
            sql::DELETE_QUEUED_MARKER,
            &[(&job.job.sync_id, Type::UUID), (&job.job.id, Type::UUID)],
        )
        .await
        .map_err(StoreError::db("clearing the queued marker"))?;
        if let Some(lease) = lease {
            release_lease_in(&tx, lease).await?;
        }
        upsert_job(
            &tx,
            job,
            status,
            Some(cap_message(message)),
            Some(Utc::now()),
        )
        .await?;
        tx.commit("committing the unrun job").await
    }

    /// Records a job that failed without an outcome of its own (it panicked,
    /// it could not be run for too long, the database refused it for good):
    /// a failed job row and its attempt's record (one statement more than
    /// a run's outcome, on this rare path only), and the sync row unless a
    /// newer job owns it.
    pub async fn fail_job(&self, job: &JobStart, message: &str) -> Result<(), StoreError> {
        let message = cap_message(message);
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        // Before the job's own row is written, so "the last finished job of
        // the type" is the one before it.
        let failed = FailedJob::from(&job.job);
        note_failure(&tx, &failed, &message).await?;
        // The sync row, then the job row: the lock order.
        fail_sync_row(&tx, &failed, &message).await?;
        upsert_job(
            &tx,
            job,
            JobStatus::Failed,
            Some(message.clone()),
            Some(Utc::now()),
        )
        .await?;
        // The attempt's record, after its job row (which it refers to).
        tx.execute(
            sql::INSERT_JOB_ATTEMPT,
            &[
                (&job.job.id, Type::UUID),
                (&job.job.sync_id, Type::UUID),
                (&job.attempt, Type::INT4),
                (&job.started_at, Type::TIMESTAMPTZ),
                (&message, Type::TEXT),
            ],
        )
        .await
        .map_err(StoreError::db("recording the failed attempt"))?;
        tx.commit("committing the failed job").await
    }

    /// Marks a queued job `pending` on its sync row as soon as it is
    /// published (enqueue command, events), so the API shows it waiting.
    pub async fn record_enqueued(&self, job: &Job) -> Result<(), StoreError> {
        let (job_id, sync_id, job_type) = (job.id, job.sync_id, job.job_type());
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        tx.commit_asynchronously()
            .await
            .map_err(StoreError::db("starting a transaction"))?;
        // The broker confirmed it: the marker (if any) is no longer at risk
        // of pointing at a job that was never published. Holding it also
        // holds the job's run at its open (which takes the marker) until we
        // commit. With the marker, the sync row is locked here, before the
        // job row is written (the lock order).
        let marker_held = !tx
            .query(
                sql::MARK_QUEUED_PUBLISHED,
                &[(&sync_id, Type::UUID), (&job_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("marking the queued job published"))?
            .is_empty();
        // If the worker already wrote this job's row (it can finish before
        // we get here), the job speaks for itself: leave the sync row alone.
        // If our insert wins, its row lock holds the worker's start until we commit.
        let inserted = tx
            .query_opt(
                sql::INSERT_PENDING_JOB,
                &[
                    (&job_id, Type::UUID),
                    (&sync_id, Type::UUID),
                    (&job_type.as_str(), Type::TEXT),
                    (&job.trigger, Type::TEXT),
                    (&job.actor, Type::TEXT),
                    (&job.kind.coalescing_key(), Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("recording the queued job"))?;
        // Without the marker, a worker has already opened the job and may be
        // finishing it: its outcome locks the sync row, then waits for our
        // job row, so waiting here for the sync row would deadlock. The run
        // reports its own status (and the API's answer names the job).
        if inserted.is_none() || !marker_held {
            return tx.commit("committing the queued job").await;
        }
        tx.execute(
            ENQUEUED.of(job_type),
            &[(&sync_id, Type::UUID), (&job_id.to_string(), Type::TEXT)],
        )
        .await
        .map_err(StoreError::db("marking the sync pending"))?;
        tx.commit("committing the queued job").await
    }

    /// Refreshes a running job's heartbeat and renews its sync's lease by
    /// `ttl`, in one statement. None when the lease is no longer ours;
    /// else whether a pause holds the sync's writes now (issue 41).
    /// The sync row is locked first: the job row's update, a `WITH` the
    /// statement does not read, runs after it (the lock order).
    pub async fn heartbeat(
        &self,
        job_id: Uuid,
        lease: &SyncLease,
        ttl: Duration,
    ) -> Result<Option<bool>, StoreError> {
        let client = self.db.client().await?;
        let renewed = client
            .query(
                sql::HEARTBEAT_JOB,
                &[
                    (&job_id, Type::UUID),
                    (&lease.sync_id, Type::UUID),
                    (&lease.token, Type::UUID),
                    (&ttl.as_secs_f64(), Type::FLOAT8),
                ],
            )
            .await
            .map_err(StoreError::db("writing the job heartbeat"))?;
        Ok(renewed.first().map(|r| r.get("paused")))
    }

    /// A run that stopped before its outcome (lost lease, shutdown) hands
    /// its job back: the rows it set `running` go back to `pending` with
    /// `message` (if they are still its own).
    pub async fn hand_back_job(
        &self,
        job_id: Uuid,
        sync_id: Uuid,
        job_type: JobType,
        worker_id: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        // The sync row, then the job row: the lock order.
        tx.execute(
            HANDED_BACK.of(job_type),
            &[
                (&sync_id, Type::UUID),
                (&job_id.to_string(), Type::TEXT),
                (&message, Type::TEXT),
            ],
        )
        .await
        .map_err(StoreError::db("handing the sync status back"))?;
        tx.execute(
            sql::HAND_BACK_JOB,
            &[
                (&job_id, Type::UUID),
                (&worker_id, Type::TEXT),
                (&message, Type::TEXT),
            ],
        )
        .await
        .map_err(StoreError::db("handing the job back"))?;
        tx.commit("committing the hand-back").await
    }

    /// Claims `pending` jobs nobody has touched for
    /// `orphan_after` past their enqueue (or their scheduled next attempt):
    /// jobs whose message is likely gone, as after a database failover that
    /// lost an outcome the broker had already been told about (the message
    /// acknowledged, the row back to `pending` or `running`). Each claim
    /// moves `next_attempt_at` on by `orphan_after`, so a job is claimed at
    /// most once per `orphan_after`; the caller publishes it again (a
    /// duplicate of a message still queued is recognised and skipped).
    /// A row that cannot be published again as it was asked is returned
    /// with its failure (see `orphan_fate`) for `fail_orphan`.
    pub async fn claim_orphaned_jobs(
        &self,
        orphan_after: Duration,
        limit: i64,
    ) -> Result<Vec<OrphanedJob>, StoreError> {
        let client = self.db.client().await?;
        let secs = orphan_after.as_secs_f64();
        let rows = client
            .query(
                sql::CLAIM_ORPHANED_JOBS,
                &[(&secs, Type::FLOAT8), (&limit, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("claiming orphaned jobs"))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let job_type = JobType::parse(r.get(2))?;
                Some(OrphanedJob {
                    job_id: r.get(0),
                    sync_id: r.get(1),
                    job_type,
                    fate: orphan_fate(r.get(3), job_type),
                })
            })
            .collect())
    }

    /// Fails an orphaned row that cannot be published again (still
    /// `pending`), its sync row unless a newer job owns it, and notifies
    /// as any failed job does.
    pub async fn fail_orphan(&self, orphan: &OrphanedJob, message: &str) -> Result<(), StoreError> {
        let message = cap_message(message);
        let job = FailedJob {
            sync_id: orphan.sync_id,
            id: orphan.job_id,
            job_type: orphan.job_type,
        };
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        tx.execute(sql::LOCK_SYNC_ROW, &[(&job.sync_id, Type::UUID)])
            .await
            .map_err(StoreError::db("locking the sync row"))?;
        let failed = tx
            .execute(
                sql::FAIL_ORPHANED_JOB,
                &[(&job.id, Type::UUID), (&message, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("failing an orphaned job"))?;
        if failed == 0 {
            // A worker took it meanwhile: its run speaks for itself.
            return tx.commit("committing the orphaned job").await;
        }
        note_failure(&tx, &job, &message).await?;
        fail_sync_row(&tx, &job, &message).await?;
        tx.commit("committing the orphaned job").await
    }

    /// Rows left `running` by a worker that died (stale heartbeat) go back
    /// to `pending`: the broker redelivers their message to another worker.
    /// One transaction per job, taking the sync row and then the job row
    /// (the lock order) without waiting for either: a row someone holds
    /// belongs to a writer that is busy with it (a late heartbeat, an
    /// outcome, a new run's start), and is looked at again next round.
    pub async fn reap_stale_jobs(
        &self,
        stale_after: Duration,
    ) -> Result<Vec<StaleJob>, StoreError> {
        let secs = stale_after.as_secs_f64();
        let mut client = self.db.client().await?;
        let rows = client
            .query(sql::SELECT_STALE_JOBS, &[(&secs, Type::FLOAT8)])
            .await
            .map_err(StoreError::db("finding stale jobs"))?;
        let stale = rows.iter().filter_map(|r| {
            Some(StaleJob {
                job_id: r.get(0),
                sync_id: r.get(1),
                job_type: JobType::parse(r.get(2))?,
            })
        });
        let mut reaped = Vec::new();
        for job in stale {
            let tx = client.transaction("starting a transaction").await?;
            let sync_row = tx
                .query(
                    sql::LOCK_SYNC_ROW_SKIP_LOCKED,
                    &[(&job.sync_id, Type::UUID)],
                )
                .await
                .map_err(StoreError::db("locking a stale job's sync row"))?;
            let job_row = match sync_row.is_empty() {
                true => 0,
                false => tx
                    .execute(
                        sql::REAP_STALE_JOB,
                        &[(&job.job_id, Type::UUID), (&secs, Type::FLOAT8)],
                    )
                    .await
                    .map_err(StoreError::db("reaping a stale job"))?,
            };
            if job_row == 0 {
                tx.commit("committing reaped jobs").await?;
                continue;
            }
            tx.execute(
                REAPED.of(job.job_type),
                &[
                    (&job.sync_id, Type::UUID),
                    (&job.job_id.to_string(), Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("reaping a stale sync status"))?;
            tx.commit("committing reaped jobs").await?;
            reaped.push(job);
        }
        Ok(reaped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orphan_is_published_again_as_it_was_queued() {
        let republish = |key, job_type| match orphan_fate(key, job_type) {
            OrphanFate::Republish(kind) => Some(kind),
            OrphanFate::Fail(_) => None,
        };
        let prune = JobKind::Sync {
            prune_unmanaged: true,
        };
        assert_eq!(republish(Some("sync+prune"), JobType::Sync), Some(prune));
        let import = JobKind::Import {
            behavior: crate::model::ImportBehavior::PrioritizeDestination,
        };
        let key = Some("import:prioritize-destination");
        assert_eq!(republish(key, JobType::Import), Some(import));
        // Rows queued before kinds were kept.
        assert_eq!(republish(None, JobType::Sync), Some(JobKind::SYNC));
        let remove = JobKind::Remove {
            delete_sync_on_complete: false,
        };
        assert_eq!(republish(None, JobType::Remove), Some(remove));
    }

    #[test]
    fn an_orphan_that_cannot_run_as_asked_is_failed_saying_what_to_do() {
        let failure = |key, job_type| match orphan_fate(key, job_type) {
            OrphanFate::Fail(message) => message,
            OrphanFate::Republish(kind) => panic!("{kind:?} republished"),
        };
        let old_import = failure(None, JobType::Import);
        assert!(
            old_import.contains("trigger the import again"),
            "{old_import}"
        );
        let unknown = failure(Some("sync+teleport"), JobType::Sync);
        assert!(unknown.contains("'sync+teleport'"), "{unknown}");
        assert!(unknown.contains("trigger it again"), "{unknown}");
        // A known kind on a row of another type was not queued by us.
        let mismatch = failure(Some("remove+delete-sync"), JobType::Sync);
        assert!(mismatch.contains("sync job"), "{mismatch}");
        let long = "x".repeat(5000);
        assert!(failure(Some(&long), JobType::Sync).chars().count() <= crate::model::MESSAGE_CAP);
    }
}
