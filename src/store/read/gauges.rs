//! Numbers the worker's gauges show, read from Postgres.

use crate::store::sql::read as sql;
use crate::store::{JobLedger, StoreError};

// Unnamed statements (`*_typed`) even without parameters: PgBouncer in
// transaction mode cannot keep a named one between transactions.

impl JobLedger {
    /// Syncs by the status of their latest sync job (`never` when none ran).
    pub async fn sync_status_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::SYNC_STATUS_COUNTS, &[])
            .await
            .map_err(StoreError::db("counting syncs by status"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Seconds since the oldest `pending` job was enqueued (0 when none).
    pub async fn oldest_pending_job_age(&self) -> Result<f64, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_one(sql::OLDEST_PENDING_JOB_AGE, &[])
            .await
            .map_err(StoreError::db("reading the oldest pending job"))?;
        Ok(row.get(0))
    }
}
