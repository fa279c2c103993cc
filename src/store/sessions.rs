//! Server-side sessions of the dashboard. The web layer makes the random
//! ids and hashes them; the store keeps hashes, ends sessions and finds the
//! live token a session stands for. Times come from the database's clock,
//! so API replicas with skewed clocks agree on expiry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::audit::insert_audit;
use super::sql::sessions as sql;
use super::tokens::{token_from_row, ApiTokenRecord};
use super::{AuthStore, StoreError};
use crate::model::AuditEntry;

/// One session, as listed per token (never its id).
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl AuthStore {
    /// Opens a session for a live token; false when the token is not live.
    pub async fn create_session(
        &self,
        id_hash: &[u8],
        token_id: Uuid,
        max_age: Duration,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let n = tx
            .execute(
                sql::INSERT_SESSION,
                &[
                    (&id_hash, Type::BYTEA),
                    (&token_id, Type::UUID),
                    (&secs(max_age), Type::FLOAT8),
                ],
            )
            .await
            .map_err(StoreError::db("opening a dashboard session"))?;
        if n > 0 {
            for entry in audit {
                insert_audit(&tx, entry).await?;
            }
            tx.commit("committing the session").await?;
        }
        Ok(n > 0)
    }

    /// The live token of a live session: one statement probing the
    /// session's primary key and the token's. With `touch`, marks the
    /// session seen (restarting its idle time); background refreshes pass
    /// false so that an unattended tab still times out.
    pub async fn use_session(
        &self,
        id_hash: &[u8],
        idle_timeout: Duration,
        touch: bool,
    ) -> Result<Option<ApiTokenRecord>, StoreError> {
        let client = self.db.client().await?;
        let statement = if touch {
            sql::TOUCH_LIVE_SESSION
        } else {
            sql::SELECT_LIVE_SESSION
        };
        let row = client
            .query_opt(
                statement,
                &[(&id_hash, Type::BYTEA), (&secs(idle_timeout), Type::FLOAT8)],
            )
            .await
            .map_err(StoreError::db("checking a dashboard session"))?;
        Ok(row.as_ref().map(token_from_row))
    }

    /// Ends one session (sign-out); false when there was none.
    pub async fn delete_session(
        &self,
        id_hash: &[u8],
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let n = tx
            .execute(sql::DELETE_SESSION, &[(&id_hash, Type::BYTEA)])
            .await
            .map_err(StoreError::db("ending a dashboard session"))?;
        if n > 0 {
            for entry in audit {
                insert_audit(&tx, entry).await?;
            }
            tx.commit("committing the sign-out").await?;
        }
        Ok(n > 0)
    }

    /// Deletes up to `batch` expired sessions (either end); returns how
    /// many. Small batches keep each statement's locks short.
    pub async fn delete_expired_sessions(
        &self,
        idle_timeout: Duration,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let client = self.db.client().await?;
        client
            .execute(
                sql::DELETE_EXPIRED_SESSIONS,
                &[(&secs(idle_timeout), Type::FLOAT8), (&batch, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("deleting expired dashboard sessions"))
    }

    /// The live sessions of a token, newest first.
    pub async fn token_sessions(
        &self,
        token_id: Uuid,
        idle_timeout: Duration,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_TOKEN_SESSIONS,
                &[(&token_id, Type::UUID), (&secs(idle_timeout), Type::FLOAT8)],
            )
            .await
            .map_err(StoreError::db("listing a token's dashboard sessions"))?;
        Ok(rows
            .iter()
            .map(|r| SessionRecord {
                created_at: r.get("created_at"),
                last_seen_at: r.get("last_seen_at"),
                expires_at: r.get("expires_at"),
            })
            .collect())
    }

    /// Live sessions per token, for `token list`.
    pub async fn session_counts(
        &self,
        idle_timeout: Duration,
    ) -> Result<Vec<(Uuid, i64)>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::COUNT_LIVE_SESSIONS,
                &[(&secs(idle_timeout), Type::FLOAT8)],
            )
            .await
            .map_err(StoreError::db("counting dashboard sessions"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get("token_id"), r.get("n")))
            .collect())
    }

    /// Live sessions of every token together (the API's gauge).
    pub async fn live_session_total(&self, idle_timeout: Duration) -> Result<i64, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_one(
                sql::COUNT_ALL_LIVE_SESSIONS,
                &[(&secs(idle_timeout), Type::FLOAT8)],
            )
            .await
            .map_err(StoreError::db("counting live dashboard sessions"))?;
        Ok(row.get("n"))
    }
}
