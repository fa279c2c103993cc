//! Server-side sessions of the dashboard. The web layer makes the random
//! ids and hashes them; the store keeps hashes, ends sessions and finds the
//! live token a session stands for. Times come from the database's clock,
//! so API replicas with skewed clocks agree on expiry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::audit::insert_audit;
use super::tokens::{token_from_row, ApiTokenRecord};
use super::{Store, StoreError};
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

impl Store {
    /// Opens a session for a live token; false when the token is not live.
    pub async fn create_session(
        &self,
        id_hash: &[u8],
        token_id: Uuid,
        max_age: Duration,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let n = tx
            .execute(
                "INSERT INTO dashboard_sessions (id_hash, token_id, expires_at)
                 SELECT $1, id, now() + make_interval(secs => $3)
                   FROM api_tokens WHERE id = $2 AND revoked_at IS NULL",
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
        let client = self.client().await?;
        const LIVE: &str = "s.id_hash = $1 AND t.id = s.token_id AND t.revoked_at IS NULL
            AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $2)";
        const TOKEN: &str =
            "t.id, t.name, t.role, t.project_ids, t.created_at, t.last_used_at, t.revoked_at";
        let sql = if touch {
            format!(
                "UPDATE dashboard_sessions s SET last_seen_at = now() FROM api_tokens t
                  WHERE {LIVE} RETURNING {TOKEN}"
            )
        } else {
            format!("SELECT {TOKEN} FROM dashboard_sessions s, api_tokens t WHERE {LIVE}")
        };
        let row = client
            .query_opt(
                &sql,
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
        let mut client = self.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let n = tx
            .execute(
                "DELETE FROM dashboard_sessions WHERE id_hash = $1",
                &[(&id_hash, Type::BYTEA)],
            )
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
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM dashboard_sessions WHERE id_hash IN (
                     SELECT id_hash FROM dashboard_sessions
                      WHERE expires_at <= now()
                         OR last_seen_at <= now() - make_interval(secs => $1)
                      LIMIT $2)",
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
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT created_at, last_seen_at, expires_at FROM dashboard_sessions
                  WHERE token_id = $1 AND expires_at > now()
                    AND last_seen_at > now() - make_interval(secs => $2)
                  ORDER BY created_at DESC",
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
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT token_id, count(*) AS n FROM dashboard_sessions
                  WHERE expires_at > now()
                    AND last_seen_at > now() - make_interval(secs => $1)
                  GROUP BY token_id",
                &[(&secs(idle_timeout), Type::FLOAT8)],
            )
            .await
            .map_err(StoreError::db("counting dashboard sessions"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get("token_id"), r.get("n")))
            .collect())
    }
}
