//! One job per sync at a time, across all processes: a lease on the sync's
//! row. Taking it is one conditional `UPDATE`; the running job's heartbeat
//! renews it; its owner releases it. No connection is held while the job
//! talks to Humanitec, no session state is used (so it works through
//! PgBouncer in transaction mode), and a dead worker's lease expires by itself.

use std::time::Duration;

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{Store, StoreError};

/// Proof of holding a sync's lease: the random token written on the row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncLease {
    pub sync_id: Uuid,
    pub token: Uuid,
}

/// The answer to "may I run a job of this sync now?".
#[derive(Debug)]
pub enum LeaseTake {
    Taken(SyncLease),
    /// Another run holds an unexpired lease.
    Busy,
    /// No such sync row.
    NoSuchSync,
}

impl Store {
    /// Takes the sync's lease for `ttl` if it is free or expired.
    /// `holder` is for operators (who holds it); the token proves ownership.
    pub async fn try_lease_sync(
        &self,
        sync_id: Uuid,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseTake, StoreError> {
        let mut client = self.client().await?;
        let token = Uuid::new_v4();
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::db("taking the sync lease"))?;
        tx.batch_execute(super::ASYNC_COMMIT)
            .await
            .map_err(StoreError::db("taking the sync lease"))?;
        let row = tx
            .query_typed(
                "WITH taken AS (
                    UPDATE secret_syncs
                       SET lease_token = $2, lease_holder = $3,
                           lease_expires_at = clock_timestamp() + make_interval(secs => $4)
                     WHERE id = $1 AND (lease_token IS NULL OR lease_expires_at < clock_timestamp())
                 RETURNING id)
                 SELECT EXISTS (SELECT 1 FROM taken), EXISTS (SELECT 1 FROM secret_syncs WHERE id = $1)",
                &[
                    (&sync_id, Type::UUID),
                    (&token, Type::UUID),
                    (&holder, Type::TEXT),
                    (&ttl.as_secs_f64(), Type::FLOAT8),
                ],
            )
            .await
            .map_err(StoreError::db("taking the sync lease"))?;
        tx.commit()
            .await
            .map_err(StoreError::db("taking the sync lease"))?;
        let Some(row) = row.first() else {
            return Ok(LeaseTake::NoSuchSync);
        };
        Ok(match (row.get::<_, bool>(0), row.get::<_, bool>(1)) {
            (true, _) => LeaseTake::Taken(SyncLease { sync_id, token }),
            (false, true) => LeaseTake::Busy,
            (false, false) => LeaseTake::NoSuchSync,
        })
    }

    /// Extends the lease by `ttl` from now. False when it is no longer ours
    /// (expired and taken by another run, or the row is gone).
    pub async fn renew_lease(&self, lease: &SyncLease, ttl: Duration) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .query_typed(
                "UPDATE secret_syncs
                    SET lease_expires_at = clock_timestamp() + make_interval(secs => $3)
                  WHERE id = $1 AND lease_token = $2
              RETURNING id",
                &[
                    (&lease.sync_id, Type::UUID),
                    (&lease.token, Type::UUID),
                    (&ttl.as_secs_f64(), Type::FLOAT8),
                ],
            )
            .await
            .map_err(StoreError::db("renewing the sync lease"))?;
        Ok(!n.is_empty())
    }

    /// Gives the lease up, only if still ours.
    pub async fn release_lease(&self, lease: &SyncLease) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .query_typed(
                "UPDATE secret_syncs SET lease_token = NULL, lease_holder = NULL, lease_expires_at = NULL
                  WHERE id = $1 AND lease_token = $2",
                &[(&lease.sync_id, Type::UUID), (&lease.token, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("releasing the sync lease"))?;
        Ok(())
    }
}
