//! Which workers are alive: each marks itself seen every METRICS_REFRESH
//! (the overview lists those seen lately, `read::dashboard`).

use tokio_postgres::types::Type;

use crate::store::sql::workers as sql;
use crate::store::{JobLedger, StoreError};

impl JobLedger {
    /// Marks `worker_id` seen now, and forgets workers not seen for a day
    /// (a restarted pod gets a new id).
    pub async fn mark_worker_seen(&self, worker_id: &str) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        client
            .execute(sql::MARK_WORKER_SEEN, &[(&worker_id, Type::TEXT)])
            .await
            .map_err(StoreError::db("marking the worker seen"))?;
        Ok(())
    }
}
