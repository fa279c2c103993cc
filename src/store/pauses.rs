//! Pauses of Humanitec writes (issue 41, `secret_sync_pauses`): taking and
//! ending one (with its audit entry, in the same transaction), parking a
//! job a pause holds, releasing the parked jobs on resume, and the feed
//! that tells a worker at once (`LISTEN secret_sync_pauses`).

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::AsyncMessage;
use uuid::Uuid;

use super::audit::insert_audit;
use super::database_url::DatabaseUrl;
use super::jobs::{JobStart, SyncLease};
use super::sql::{jobs as job_sql, pauses as sql, Sql};
use super::{JobLedger, StoreError};
use crate::model::{cap_message, AuditEntry, JobKind, JobType, PauseNote};

/// The channel pauses and resumes are told on.
const CHANNEL: &str = "secret_sync_pauses";

/// A pause as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseRow {
    pub id: Uuid,
    /// None: the whole instance.
    pub connection_id: Option<Uuid>,
    pub project_id: Option<String>,
    /// The connection's name (None for the instance, or when read without it).
    pub connection_name: Option<String>,
    pub reason: String,
    pub paused_by: String,
    pub paused_at: DateTime<Utc>,
}

impl PauseRow {
    fn from_row(r: &tokio_postgres::Row, named: bool) -> PauseRow {
        PauseRow {
            id: r.get("id"),
            connection_id: r.get("connection_id"),
            project_id: r.get("project_id"),
            connection_name: if named {
                r.get("connection_name")
            } else {
                None
            },
            reason: r.get("reason"),
            paused_by: r.get("paused_by"),
            paused_at: r.get("paused_at"),
        }
    }

    pub fn note(&self) -> PauseNote {
        PauseNote {
            connection_id: self.connection_id,
            reason: self.reason.clone(),
            paused_by: self.paused_by.clone(),
            paused_at: self.paused_at,
        }
    }
}

/// A parked job a resume put back to `pending`: publish it again.
#[derive(Clone, Debug)]
pub struct ReleasedJob {
    pub id: Uuid,
    pub sync_id: Uuid,
    /// As it was queued (None: a kind this version does not know).
    pub kind: Option<JobKind>,
    pub attempt: i32,
    pub enqueued_at: DateTime<Utc>,
    pub trigger: Option<String>,
    pub actor: Option<String>,
}

/// What parking a job came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parked {
    /// The job waits on its row (`paused`).
    Parked,
    /// No pause holds the sync any more (it ended meanwhile): run the job.
    NotHeld,
    /// The lease is no longer this run's: nothing was written.
    LeaseLost,
}

/// `park_job`: the sync's status columns of each job type.
fn park_statement(job_type: JobType) -> Sql {
    match job_type {
        JobType::Sync => job_sql::PARK_JOB_SYNC,
        JobType::Import => job_sql::PARK_JOB_IMPORT,
        JobType::Remove => job_sql::PARK_JOB_REMOVE,
    }
}

/// Tells when a pause began or ended, on a connection of its own.
pub struct PauseFeed {
    /// Kept: dropping it ends the connection.
    _client: tokio_postgres::Client,
    told: tokio::sync::mpsc::UnboundedReceiver<()>,
}

impl PauseFeed {
    /// Waits for the next pause or resume; false once the connection is
    /// gone (listen again).
    pub async fn changed(&mut self) -> bool {
        self.told.recv().await.is_some()
    }
}

impl JobLedger {
    /// Pauses `connection_id` of `project_id` (None, None: the whole
    /// instance), with the audit entry in the same transaction. None when
    /// that scope is paused already (nothing written).
    pub async fn pause(
        &self,
        connection: Option<(Uuid, &str)>,
        reason: &str,
        paused_by: &str,
        audit: &AuditEntry,
    ) -> Result<Option<PauseRow>, StoreError> {
        let (connection_id, project_id) =
            connection.map_or((None, None), |(c, p)| (Some(c), Some(p)));
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let row = tx
            .query_opt(
                sql::INSERT_PAUSE,
                &[
                    (&connection_id, Type::UUID),
                    (&project_id, Type::TEXT),
                    (&reason, Type::TEXT),
                    (&paused_by, Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("pausing"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let pause = PauseRow::from_row(&row, false);
        insert_audit(&tx, &audit.clone().target(pause.id)).await?;
        tx.commit("committing the pause").await?;
        Ok(Some(pause))
    }

    /// Ends the active pause of `connection_id` (None: the instance's), with
    /// the audit entry. None when that scope was not paused. The workers
    /// hear of it at once and publish the parked jobs again
    /// (`release_parked_jobs`).
    pub async fn resume(
        &self,
        connection_id: Option<Uuid>,
        resumed_by: &str,
        audit: &AuditEntry,
    ) -> Result<Option<PauseRow>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let row = tx
            .query_opt(
                sql::END_PAUSE,
                &[(&connection_id, Type::UUID), (&resumed_by, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("resuming"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let pause = PauseRow::from_row(&row, false);
        insert_audit(&tx, &audit.clone().target(pause.id)).await?;
        tx.commit("committing the resume").await?;
        Ok(Some(pause))
    }

    /// Puts back the parked jobs no pause holds any more: one per sync and
    /// kind to `pending` (returned: publish them), the others `skipped`,
    /// folded into it. Each is released by one caller only (its row is
    /// locked and leaves `paused`).
    pub async fn release_parked_jobs(&self) -> Result<Vec<ReleasedJob>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::RELEASE_PARKED_JOBS, &[])
            .await
            .map_err(StoreError::db("releasing the parked jobs"))?;
        Ok(rows.iter().map(released_job).collect())
    }

    /// The active pauses, the instance's first, each connection named.
    pub async fn active_pauses(&self) -> Result<Vec<PauseRow>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::SELECT_ACTIVE_PAUSES, &[])
            .await
            .map_err(StoreError::db("reading the pauses"))?;
        Ok(rows.iter().map(|r| PauseRow::from_row(r, true)).collect())
    }

    /// Parks a job a pause holds (see `Parked`): under a share lock on the
    /// pauses that hold its sync (a resume waits for the park, then
    /// releases it), its sync's queued marker of its kind (kept, or made
    /// this job's), the lease released and the rows saying `message`.
    pub async fn park_job(
        &self,
        job: &JobStart,
        message: &str,
        lease: &SyncLease,
    ) -> Result<Parked, StoreError> {
        let (sync_id, job_id) = (job.job.sync_id, job.job.id);
        let kind = job.job.kind.coalescing_key();
        let message = cap_message(message);
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let holding = tx
            .query(sql::LOCK_PAUSES_OF_SYNC, &[(&sync_id, Type::UUID)])
            .await
            .map_err(StoreError::db("reading the pauses of the sync"))?;
        if holding.is_empty() {
            return Ok(Parked::NotHeld);
        }
        // Marker, sync row, job row: the lock order.
        tx.execute(
            job_sql::KEEP_PARKED_MARKER,
            &[
                (&sync_id, Type::UUID),
                (&job_id, Type::UUID),
                (&kind, Type::TEXT),
            ],
        )
        .await
        .map_err(StoreError::db("keeping the parked job's marker"))?;
        let job_type = job.job.job_type();
        let written = tx
            .query(
                park_statement(job_type),
                &[
                    (&sync_id, Type::UUID),
                    (&lease.token, Type::UUID),
                    (&job_id, Type::UUID),
                    (&message, Type::TEXT),
                    (&job_type.as_str(), Type::TEXT),
                    (&job.job.trigger, Type::TEXT),
                    (&job.attempt, Type::INT4),
                    (&job.max_attempts, Type::INT4),
                    (&job.enqueued_at, Type::TIMESTAMPTZ),
                    (&job.worker_id, Type::TEXT),
                    (&job.coalesced, Type::INT4),
                    (&job.covers_until, Type::TIMESTAMPTZ),
                    (&kind, Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("parking the job"))?;
        if written.is_empty() {
            return Ok(Parked::LeaseLost);
        }
        tx.commit("committing the parked job").await?;
        Ok(Parked::Parked)
    }

    /// Opens a connection of its own that listens for pauses and resumes
    /// (not through a pooler in transaction mode, where `LISTEN` does not
    /// hold: there the heartbeat and the check before the first write
    /// still see a pause, later).
    pub async fn listen_pauses(&self) -> Result<PauseFeed, StoreError> {
        let url = DatabaseUrl::parse(&self.db.url).map_err(|reason| StoreError::BadUrl {
            url: crate::model::redact_url(&self.db.url),
            reason,
        })?;
        let connector = url.connector().map_err(|reason| StoreError::BadUrl {
            url: crate::model::redact_url(&self.db.url),
            reason,
        })?;
        let mut config = url.config().clone();
        if config.get_application_name().is_none() {
            config.application_name(super::APPLICATION_NAME);
        }
        let (client, mut connection) = config
            .connect(connector)
            .await
            .map_err(StoreError::db("connecting to listen for pauses"))?;
        let (tell, told) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => {
                        if tell.send(()).is_err() {
                            break;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
        });
        // Not a registry statement: session state on this connection alone.
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(StoreError::db("listening for pauses"))?;
        Ok(PauseFeed {
            _client: client,
            told,
        })
    }
}

fn released_job(r: &tokio_postgres::Row) -> ReleasedJob {
    let job_type = JobType::parse(r.get("type"));
    let kind = match (r.get::<_, Option<&str>>("kind"), job_type) {
        (Some(key), _) => JobKind::from_key(key),
        (None, Some(JobType::Sync)) => Some(JobKind::SYNC),
        (None, _) => None,
    };
    ReleasedJob {
        id: r.get("id"),
        sync_id: r.get("sync_id"),
        kind,
        attempt: r.get("attempt"),
        enqueued_at: r.get("enqueued_at"),
        trigger: r.get("trigger"),
        actor: r.get("actor"),
    }
}
