//! One job per sync at a time, across all processes: a Postgres advisory
//! lock held on a dedicated connection for the whole run. If the worker dies,
//! its connection drops and Postgres releases the lock.

use deadpool_postgres::Object;
use uuid::Uuid;

use super::{Store, StoreError};

pub struct SyncLock {
    conn: Option<Object>,
    name: String,
}

const LOCK_KEY: &str = "hashtextextended($1, 0)";

impl Store {
    /// Takes the sync's lock if free; None when another run holds it.
    pub async fn try_lock_sync(&self, sync_id: Uuid) -> Result<Option<SyncLock>, StoreError> {
        let conn = self.client().await?;
        let name = format!("secret-sync:{sync_id}");
        let got: bool = conn
            .query_one(
                &format!("SELECT pg_try_advisory_lock({LOCK_KEY})"),
                &[&name],
            )
            .await
            .map_err(StoreError::db("taking the sync lock"))?
            .get(0);
        Ok(got.then(|| SyncLock {
            conn: Some(conn),
            name,
        }))
    }
}

impl SyncLock {
    /// Releases the lock and returns the connection to the pool.
    pub async fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            let unlocked = conn
                .execute(
                    &format!("SELECT pg_advisory_unlock({LOCK_KEY})"),
                    &[&self.name],
                )
                .await;
            if unlocked.is_err() {
                // Never give a connection that may still hold the lock back to the pool.
                drop(Object::take(conn));
            }
        }
    }
}

impl Drop for SyncLock {
    fn drop(&mut self) {
        // Dropped without release (a cancelled task): close the connection,
        // which releases the lock server-side.
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}
