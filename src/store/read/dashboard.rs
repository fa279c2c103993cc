//! Read queries behind the ops dashboard (`src/dashboard/`): the sync list
//! with filters and paging, a sync's job history, and the overview's counts.
//! Every query is limited to the projects the viewer's token may see.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::store::{Store, StoreError};

/// Filters of the sync list; `None` means "any".
#[derive(Clone, Debug, Default)]
pub struct SyncFilter {
    /// `pending`, `running`, `succeeded`, `failed` or `never`.
    pub status: Option<String>,
    pub project: Option<String>,
    pub app: Option<String>,
    pub env: Option<String>,
    /// Part of the name, case-insensitive.
    pub search: Option<String>,
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

const LIST_COLUMNS: &str = "s.id, s.name, s.project_id, s.destination_config->>'org',
    s.destination_config->>'app', s.destination_config->>'env', e.slug, f.path,
    s.sync_status, s.last_synced_at, s.last_sync_message, s.is_auto_sync_enabled";

const LIST_FROM: &str = "FROM secret_syncs s
    LEFT JOIN secret_folders f ON f.id = s.folder_id
    LEFT JOIN environments e ON e.id = f.environment_id";

/// `%` and `_` typed in the search box match themselves.
fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

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
    }
}

impl Store {
    /// A page of syncs in `projects`, failed first, then by name.
    pub async fn dashboard_syncs(
        &self,
        projects: &[String],
        filter: &SyncFilter,
        limit: i64,
        offset: i64,
    ) -> Result<SyncPage, StoreError> {
        let client = self.client().await?;
        let search = filter.search.as_deref().map(like_pattern);
        let sql = format!(
            "SELECT {LIST_COLUMNS}, count(*) OVER () {LIST_FROM}
              WHERE s.project_id = ANY($1)
                AND ($2::text IS NULL OR coalesce(s.sync_status, 'never') = $2)
                AND ($3::text IS NULL OR s.project_id = $3)
                AND ($4::text IS NULL OR s.destination_config->>'app' = $4)
                AND ($5::text IS NULL OR s.destination_config->>'env' = $5)
                AND ($6::text IS NULL OR s.name ILIKE $6)
              ORDER BY s.sync_status IS DISTINCT FROM 'failed', s.name, s.id
              LIMIT $7 OFFSET $8"
        );
        let rows = client
            .query_replanned(
                &sql,
                &[
                    (&projects, Type::TEXT_ARRAY),
                    (&filter.status, Type::TEXT),
                    (&filter.project, Type::TEXT),
                    (&filter.app, Type::TEXT),
                    (&filter.env, Type::TEXT),
                    (&search, Type::TEXT),
                    (&limit, Type::INT8),
                    (&offset, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("listing syncs for the dashboard"))?;
        let total = rows.first().map(|r| r.get::<_, i64>(12)).unwrap_or(0);
        Ok(SyncPage {
            rows: rows.iter().map(list_row).collect(),
            total,
        })
    }

    /// One sync, if it is in `projects`.
    pub async fn dashboard_sync(
        &self,
        projects: &[String],
        id: Uuid,
    ) -> Result<Option<SyncDetail>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {LIST_COLUMNS}, s.description, s.destination_config->>'scope',
                    s.sync_options->>'keySchema', s.sync_options->>'initialSyncBehavior',
                    s.import_status, s.last_import_message, s.last_imported_at,
                    s.remove_status, s.last_remove_message, s.last_removed_at,
                    s.lease_holder, s.created_at, s.updated_at
               {LIST_FROM}
              WHERE s.id = $1 AND s.project_id = ANY($2)"
        );
        let row = client
            .query_opt(&sql, &[(&id, Type::UUID), (&projects, Type::TEXT_ARRAY)])
            .await
            .map_err(StoreError::db("reading a sync for the dashboard"))?;
        Ok(row.map(|r| SyncDetail {
            row: list_row(&r),
            description: r.get(12),
            scope: r.get(13),
            key_schema: r.get(14),
            initial_behavior: r.get(15),
            import_status: r.get(16),
            last_import_message: r.get(17),
            last_imported_at: r.get(18),
            remove_status: r.get(19),
            last_remove_message: r.get(20),
            last_removed_at: r.get(21),
            lease_holder: r.get(22),
            created_at: r.get(23),
            updated_at: r.get(24),
        }))
    }

    /// The latest `limit` jobs of a sync, newest first.
    pub async fn dashboard_jobs(
        &self,
        sync_id: Uuid,
        limit: i64,
    ) -> Result<Vec<JobHistoryRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, type, trigger, status, attempt, max_attempts, message,
                        created_count, updated_count, deleted_count, unchanged_count,
                        skipped_count, coalesced, enqueued_at, started_at, finished_at, worker_id
                   FROM secret_sync_jobs WHERE sync_id = $1
                  ORDER BY enqueued_at DESC, id LIMIT $2",
                &[(&sync_id, Type::UUID), (&limit, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("listing a sync's jobs"))?;
        Ok(rows
            .iter()
            .map(|r| JobHistoryRow {
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
            })
            .collect())
    }

    /// Syncs per status (`never` for a sync that never ran) in `projects`.
    pub async fn dashboard_status_counts(
        &self,
        projects: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT coalesce(sync_status, 'never'), count(*) FROM secret_syncs
                  WHERE project_id = ANY($1) GROUP BY 1",
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
        let client = self.client().await?;
        let rows = client
            .query(
                // Grouped by calendar minute first (cheap), aged after.
                "SELECT floor(extract(epoch FROM now() - m) / 60)::int8, status, n
                   FROM (SELECT date_trunc('minute', j.finished_at) AS m, j.status, count(*) AS n
                           FROM secret_sync_jobs j
                          WHERE j.finished_at > date_trunc('minute', now()) - interval '59 minutes'
                            AND j.sync_id IN (SELECT id FROM secret_syncs WHERE project_id = ANY($1))
                          GROUP BY 1, 2) per_minute",
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
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE j.status = 'pending'),
                        count(*) FILTER (WHERE j.status = 'running')
                   FROM secret_sync_jobs j
                  WHERE j.status IN ('pending', 'running')
                    AND j.sync_id IN (SELECT id FROM secret_syncs WHERE project_id = ANY($1))",
                &[(&projects, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(StoreError::db("counting open jobs"))?;
        Ok((row.get(0), row.get(1)))
    }

    /// Workers that started a job in the last `minutes` minutes, with when.
    pub async fn dashboard_recent_workers(
        &self,
        minutes: i64,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT worker_id, max(started_at) FROM secret_sync_jobs
                  WHERE started_at > now() - make_interval(mins => $1::int4)
                    AND worker_id IS NOT NULL
                  GROUP BY 1 ORDER BY 2 DESC LIMIT 50",
                &[(&(minutes as i32), Type::INT4)],
            )
            .await
            .map_err(StoreError::db("listing recent workers"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn search_wildcards_match_themselves() {
        assert_eq!(like_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
