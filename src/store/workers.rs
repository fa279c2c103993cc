//! Which workers are alive: each marks itself seen every METRICS_REFRESH
//! (the overview lists those seen lately, `read::dashboard`).

use tokio_postgres::types::Type;

use crate::store::{Store, StoreError};

impl Store {
    /// Marks `worker_id` seen now, and forgets workers not seen for a day
    /// (a restarted pod gets a new id).
    pub async fn mark_worker_seen(&self, worker_id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "WITH gone AS (
                     DELETE FROM secret_sync_workers WHERE seen_at < now() - interval '1 day')
                 INSERT INTO secret_sync_workers (worker_id, seen_at) VALUES ($1, now())
                 ON CONFLICT (worker_id) DO UPDATE SET seen_at = now()",
                &[(&worker_id, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("marking the worker seen"))?;
        Ok(())
    }
}
