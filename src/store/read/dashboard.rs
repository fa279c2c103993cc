//! Read queries behind the ops dashboard (`src/dashboard/`): the sync list
//! with filters and paging, a sync's job history, and the overview's counts.
//! Every query is limited to the projects the viewer's token may see.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::store::sql::read as sql;
use crate::store::{DashboardReads, StoreError};

/// Filters of the sync list; `None` means "any".
#[derive(Clone, Debug, Default)]
pub struct SyncFilter {
    /// `pending`, `running`, `succeeded`, `failed` or `never`.
    pub status: Option<String>,
    pub project: Option<String>,
    pub app: Option<String>,
    pub env: Option<String>,
    /// Part of the name, the destination (`org/app/env`), the source
    /// environment or path, or the connection's name; or the whole name
    /// of a key the sync's pushed-keys record holds; case-insensitive.
    pub search: Option<String>,
}

/// A column the sync list sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncSort {
    /// Failed first, the most recent failure first, then by name.
    #[default]
    Default,
    Status,
    Name,
    Destination,
    LastSynced,
    LastFailure,
}

impl SyncSort {
    pub const ALL: [SyncSort; 6] = [
        SyncSort::Default,
        SyncSort::Status,
        SyncSort::Name,
        SyncSort::Destination,
        SyncSort::LastSynced,
        SyncSort::LastFailure,
    ];

    /// The name in the URL (`?sort=`), and in `dashboard_syncs.sql`'s order.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncSort::Default => "default",
            SyncSort::Status => "status",
            SyncSort::Name => "name",
            SyncSort::Destination => "destination",
            SyncSort::LastSynced => "last-synced",
            SyncSort::LastFailure => "last-failure",
        }
    }

    pub fn parse(text: &str) -> Option<SyncSort> {
        SyncSort::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What an id pasted into the sync list's search names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoundId {
    Job,
    Sync,
}

/// How the sync list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncOrder {
    pub sort: SyncSort,
    pub descending: bool,
}

/// One job with what its page shows besides the history row.
#[derive(Clone, Debug)]
pub struct JobDetail {
    pub job: JobHistoryRow,
    pub sync_id: Uuid,
    pub sync_name: String,
    pub project_id: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
}

/// One row of the sync list.
#[derive(Clone, Debug)]
pub struct SyncListRow {
    pub id: Uuid,
    pub name: String,
    pub project_id: String,
    pub org: Option<String>,
    pub app: Option<String>,
    pub env: Option<String>,
    /// Source environment slug and folder path; `None` once the folder was deleted.
    pub source_env: Option<String>,
    pub source_path: Option<String>,
    pub sync_status: Option<String>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_sync_message: Option<String>,
    pub auto_sync: bool,
    /// When a job of this sync last failed (any type).
    pub last_failed_at: Option<DateTime<Utc>>,
    pub connection_name: Option<String>,
}

/// A page of the sync list and how many rows match in all.
#[derive(Clone, Debug)]
pub struct SyncPage {
    pub rows: Vec<SyncListRow>,
    pub total: i64,
}

/// A sync with the state the detail page shows.
#[derive(Clone, Debug)]
pub struct SyncDetail {
    pub row: SyncListRow,
    pub description: Option<String>,
    pub scope: Option<String>,
    pub key_schema: Option<String>,
    pub initial_behavior: Option<String>,
    pub import_status: Option<String>,
    pub last_import_message: Option<String>,
    pub last_imported_at: Option<DateTime<Utc>>,
    pub remove_status: Option<String>,
    pub last_remove_message: Option<String>,
    pub last_removed_at: Option<DateTime<Utc>>,
    pub lease_holder: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One job of a sync's history.
#[derive(Clone, Debug)]
pub struct JobHistoryRow {
    pub id: Uuid,
    pub job_type: String,
    pub trigger: Option<String>,
    pub status: String,
    pub attempt: i32,
    pub max_attempts: i32,
    pub message: Option<String>,
    /// created, updated, deleted, unchanged, skipped
    pub counts: [i32; 5],
    pub coalesced: i32,
    pub enqueued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub worker_id: Option<String>,
}

/// Finished jobs of one outcome in one minute of the last hour.
#[derive(Clone, Debug)]
pub struct MinuteCount {
    /// Minutes ago (0 = the current minute).
    pub minutes_ago: i64,
    pub status: String,
    pub count: i64,
}

/// The number of the sync list's columns (`list_row`), before those of
/// `dashboard_syncs.sql` and `dashboard_sync.sql` that follow them.
const LIST_WIDTH: usize = 14;

/// A sync list row from the first `LIST_WIDTH` columns.
fn list_row(r: &tokio_postgres::Row) -> SyncListRow {
    SyncListRow {
        id: r.get(0),
        name: r.get(1),
        project_id: r.get(2),
        org: r.get(3),
        app: r.get(4),
        env: r.get(5),
        source_env: r.get(6),
        source_path: r.get(7),
        sync_status: r.get(8),
        last_synced_at: r.get(9),
        last_sync_message: r.get(10),
        auto_sync: r.get(11),
        last_failed_at: r.get(12),
        connection_name: r.get(13),
    }
}

/// A job history row from the first 17 columns of a jobs query.
fn history_row(r: &tokio_postgres::Row) -> JobHistoryRow {
    JobHistoryRow {
        id: r.get(0),
        job_type: r.get(1),
        trigger: r.get(2),
        status: r.get(3),
        attempt: r.get(4),
        max_attempts: r.get(5),
        message: r.get(6),
        counts: [r.get(7), r.get(8), r.get(9), r.get(10), r.get(11)],
        coalesced: r.get(12),
        enqueued_at: r.get(13),
        started_at: r.get(14),
        finished_at: r.get(15),
        worker_id: r.get(16),
    }
}

impl DashboardReads {
    /// A page of syncs in `projects`, in `order`.
    pub async fn dashboard_syncs(
        &self,
        projects: &[String],
        filter: &SyncFilter,
        order: SyncOrder,
        limit: i64,
        offset: i64,
    ) -> Result<SyncPage, StoreError> {
        let client = self.db.client().await?;
        let search = &filter.search;
        let rows = client
            .query_replanned(
                sql::DASHBOARD_SYNCS,
                &[
                    (&projects, Type::TEXT_ARRAY),
                    (&filter.status, Type::TEXT),
                    (&filter.project, Type::TEXT),
                    (&filter.app, Type::TEXT),
                    (&filter.env, Type::TEXT),
                    (search, Type::TEXT),
                    (&limit, Type::INT8),
                    (&offset, Type::INT8),
                    (&order.sort.as_str(), Type::TEXT),
                    (&order.descending, Type::BOOL),
                ],
            )
            .await
            .map_err(StoreError::db("listing syncs for the dashboard"))?;
        let total = rows
            .first()
            .map(|r| r.get::<_, i64>(LIST_WIDTH))
            .unwrap_or(0);
        Ok(SyncPage {
            rows: rows.iter().map(list_row).collect(),
            total,
        })
    }

    /// Syncs per status (`never` for a sync that never ran) among those
    /// `filter` matches, whatever its status filter says.
    pub async fn dashboard_filtered_counts(
        &self,
        projects: &[String],
        filter: &SyncFilter,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.db.client().await?;
        let search = &filter.search;
        let none: Option<String> = None;
        let rows = client
            .query_replanned(
                sql::DASHBOARD_FILTERED_COUNTS,
                &[
                    (&projects, Type::TEXT_ARRAY),
                    (&none, Type::TEXT),
                    (&filter.project, Type::TEXT),
                    (&filter.app, Type::TEXT),
                    (&filter.env, Type::TEXT),
                    (search, Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("counting the listed syncs per status"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The failed syncs `filter` matches that have a source folder (the
    /// ones a sync job can retry), at most `limit`, and how many failed
    /// syncs match in all (with or without a folder).
    pub async fn dashboard_failed_syncs(
        &self,
        projects: &[String],
        filter: &SyncFilter,
        limit: i64,
    ) -> Result<(Vec<Uuid>, i64), StoreError> {
        let client = self.db.client().await?;
        let search = &filter.search;
        let failed = Some("failed".to_string());
        let rows = client
            .query_replanned(
                sql::DASHBOARD_FAILED_SYNCS,
                &[
                    (&projects, Type::TEXT_ARRAY),
                    (&failed, Type::TEXT),
                    (&filter.project, Type::TEXT),
                    (&filter.app, Type::TEXT),
                    (&filter.env, Type::TEXT),
                    (search, Type::TEXT),
                    (&limit, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("listing the failed syncs to retry"))?;
        let total = rows.first().map(|r| r.get::<_, i64>(2)).unwrap_or(0);
        let ids = rows
            .iter()
            .filter(|r| r.get::<_, bool>(1))
            .map(|r| r.get(0))
            .collect();
        Ok((ids, total))
    }

    /// What `id` (pasted into the list's search) names among `projects`:
    /// a job or a sync. Another project's answers `None`, exactly as an
    /// id that does not exist.
    pub async fn dashboard_find_id(
        &self,
        projects: &[String],
        id: Uuid,
    ) -> Result<Option<FoundId>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(
                sql::DASHBOARD_FIND_ID,
                &[(&id, Type::UUID), (&projects, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(StoreError::db(
                "looking up an id for the dashboard's search",
            ))?;
        Ok(row.and_then(|r| match r.get::<_, &str>(0) {
            "job" => Some(FoundId::Job),
            "sync" => Some(FoundId::Sync),
            _ => None,
        }))
    }

    /// One job, if its sync is in `projects` (a job of a deleted sync
    /// belongs to no project any more and is not shown).
    pub async fn dashboard_job(
        &self,
        projects: &[String],
        job_id: Uuid,
    ) -> Result<Option<JobDetail>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(
                sql::DASHBOARD_JOB,
                &[(&job_id, Type::UUID), (&projects, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(StoreError::db("reading a job for the dashboard"))?;
        Ok(row.map(|r| JobDetail {
            job: history_row(&r),
            sync_id: r.get(17),
            sync_name: r.get(18),
            project_id: r.get(19),
            next_attempt_at: r.get(20),
            heartbeat_at: r.get(21),
        }))
    }

    /// How many keys a sync recorded pushing to `destination` (what a
    /// remove job would delete).
    pub async fn dashboard_pushed_key_count(
        &self,
        sync_id: Uuid,
        destination: &str,
    ) -> Result<i64, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_one(
                sql::DASHBOARD_PUSHED_KEY_COUNT,
                &[(&sync_id, Type::UUID), (&destination, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("counting a sync's pushed keys"))?;
        Ok(row.get(0))
    }

    /// One sync, if it is in `projects`.
    pub async fn dashboard_sync(
        &self,
        projects: &[String],
        id: Uuid,
    ) -> Result<Option<SyncDetail>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(
                sql::DASHBOARD_SYNC,
                &[(&id, Type::UUID), (&projects, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(StoreError::db("reading a sync for the dashboard"))?;
        let at = |i: usize| LIST_WIDTH + i;
        Ok(row.map(|r| SyncDetail {
            row: list_row(&r),
            description: r.get(at(0)),
            scope: r.get(at(1)),
            key_schema: r.get(at(2)),
            initial_behavior: r.get(at(3)),
            import_status: r.get(at(4)),
            last_import_message: r.get(at(5)),
            last_imported_at: r.get(at(6)),
            remove_status: r.get(at(7)),
            last_remove_message: r.get(at(8)),
            last_removed_at: r.get(at(9)),
            lease_holder: r.get(at(10)),
            created_at: r.get(at(11)),
            updated_at: r.get(at(12)),
        }))
    }

    /// The latest `limit` jobs of a sync, newest first.
    pub async fn dashboard_jobs(
        &self,
        sync_id: Uuid,
        limit: i64,
    ) -> Result<Vec<JobHistoryRow>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::DASHBOARD_JOBS,
                &[(&sync_id, Type::UUID), (&limit, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("listing a sync's jobs"))?;
        Ok(rows.iter().map(history_row).collect())
    }

    /// Syncs per status (`never` for a sync that never ran) in `projects`.
    pub async fn dashboard_status_counts(
        &self,
        projects: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::DASHBOARD_STATUS_COUNTS,
                &[(&projects, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(StoreError::db("counting syncs per status"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Jobs of syncs in `projects` finished in the last hour, per minute and outcome.
    pub async fn dashboard_jobs_per_minute(
        &self,
        projects: &[String],
    ) -> Result<Vec<MinuteCount>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::DASHBOARD_JOBS_PER_MINUTE,
                &[(&projects, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(StoreError::db("counting jobs per minute"))?;
        Ok(rows
            .iter()
            .map(|r| MinuteCount {
                minutes_ago: r.get(0),
                status: r.get(1),
                count: r.get(2),
            })
            .collect())
    }

    /// Jobs of syncs in `projects` waiting or running: `(pending, running)`
    /// (a project's share of the queues, without the instance's depths).
    pub async fn dashboard_open_jobs(&self, projects: &[String]) -> Result<(i64, i64), StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_one(sql::DASHBOARD_OPEN_JOBS, &[(&projects, Type::TEXT_ARRAY)])
            .await
            .map_err(StoreError::db("counting open jobs"))?;
        Ok((row.get(0), row.get(1)))
    }

    /// Workers seen alive in the last `minutes` minutes, with when.
    pub async fn dashboard_recent_workers(
        &self,
        minutes: i64,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::DASHBOARD_RECENT_WORKERS,
                &[(&(minutes as i32), Type::INT4)],
            )
            .await
            .map_err(StoreError::db("listing recent workers"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
