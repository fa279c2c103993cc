//! Numbers the worker's gauges show, read from Postgres.

use crate::store::{Store, StoreError};

// Unnamed statements (`*_typed`) even without parameters: PgBouncer in
// transaction mode cannot keep a named one between transactions.

impl Store {
    /// Syncs by the status of their latest sync job (`never` when none ran).
    pub async fn sync_status_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT coalesce(sync_status, 'never'), count(*) FROM secret_syncs GROUP BY 1",
                &[],
            )
            .await
            .map_err(StoreError::db("counting syncs by status"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Seconds since the oldest `pending` job was enqueued (0 when none).
    pub async fn oldest_pending_job_age(&self) -> Result<f64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT coalesce(extract(epoch FROM now() - min(enqueued_at)), 0)::float8
                   FROM secret_sync_jobs WHERE status = 'pending'",
                &[],
            )
            .await
            .map_err(StoreError::db("reading the oldest pending job"))?;
        Ok(row.get(0))
    }
}
