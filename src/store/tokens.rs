//! Bearer tokens of the HTTP API. Only hashes are stored; the API layer
//! makes and hashes tokens, the store keeps and finds them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::audit::insert_audit;
use super::sql::tokens as sql;
use super::{AuthStore, StoreError};
use crate::model::AuditEntry;

#[derive(Clone, Debug, Serialize)]
pub struct ApiTokenRecord {
    pub id: Uuid,
    pub name: String,
    /// `read`, `write` or `admin` (instance-wide, no projects).
    pub role: String,
    pub project_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token as `insert_api_token.sql`, `select_api_tokens.sql`,
/// `use_api_token.sql` and the live session statements return it.
pub(super) fn token_from_row(r: &tokio_postgres::Row) -> ApiTokenRecord {
    ApiTokenRecord {
        id: r.get("id"),
        name: r.get("name"),
        role: r.get("role"),
        project_ids: r.get("project_ids"),
        created_at: r.get("created_at"),
        last_used_at: r.get("last_used_at"),
        revoked_at: r.get("revoked_at"),
    }
}

impl AuthStore {
    pub async fn create_api_token(
        &self,
        name: &str,
        token_hash: &[u8],
        role: &str,
        project_ids: &[String],
        audit: &[AuditEntry],
    ) -> Result<ApiTokenRecord, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let row = tx
            .query_one(
                sql::INSERT_API_TOKEN,
                &[
                    (&name, Type::TEXT),
                    (&token_hash, Type::BYTEA),
                    (&role, Type::TEXT),
                    (&project_ids, Type::TEXT_ARRAY),
                ],
            )
            .await
            .map_err(StoreError::db("creating an API token"))?;
        let record = token_from_row(&row);
        for entry in audit {
            insert_audit(&tx, &entry.clone().target(record.id)).await?;
        }
        tx.commit("committing the token").await?;
        Ok(record)
    }

    /// Every token, revoked ones included, newest first.
    pub async fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::SELECT_API_TOKENS, &[])
            .await
            .map_err(StoreError::db("listing API tokens"))?;
        Ok(rows.iter().map(token_from_row).collect())
    }

    /// Revokes a token and ends its dashboard sessions at once (one
    /// statement, so there is no moment with a revoked token's session);
    /// false when there is no such live token.
    pub async fn revoke_api_token(
        &self,
        id: Uuid,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let row = tx
            .query_one(sql::REVOKE_API_TOKEN, &[(&id, Type::UUID)])
            .await
            .map_err(StoreError::db("revoking an API token"))?;
        let revoked = row.get::<_, i64>("n") > 0;
        if revoked {
            for entry in audit {
                insert_audit(&tx, entry).await?;
            }
        }
        tx.commit("committing the revocation").await?;
        Ok(revoked)
    }

    /// The live token with this hash, marking it used.
    pub async fn use_api_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<ApiTokenRecord>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::USE_API_TOKEN, &[(&token_hash, Type::BYTEA)])
            .await
            .map_err(StoreError::db("checking an API token"))?;
        Ok(row.as_ref().map(token_from_row))
    }

    /// Every project's id (what an instance-wide admin token sees).
    pub async fn project_ids(&self) -> Result<Vec<String>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::SELECT_PROJECT_IDS, &[])
            .await
            .map_err(StoreError::db("listing projects"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn project_exists(&self, project_id: &str) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::SELECT_PROJECT_EXISTS, &[(&project_id, Type::TEXT)])
            .await
            .map_err(StoreError::db("looking up a project"))?;
        Ok(row.is_some())
    }
}
