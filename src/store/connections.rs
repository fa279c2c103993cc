//! Humanitec connections (`app_connections`). Credentials stay encrypted
//! here; the jobs layer decrypts them when it needs them.

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::audit::insert_audit;
use super::page::Page;
use super::sql::connections as sql;
use super::written::Written;
use super::{StoreError, SyncRepo};
use crate::model::AuditEntry;

#[derive(Clone)]
pub struct ConnectionRecord {
    pub id: Uuid,
    /// The project the row belongs to: what its credentials are bound to.
    pub project_id: String,
    pub name: String,
    pub app: String,
    pub method: String,
    pub encrypted_credentials: Vec<u8>,
}

/// Changes to a connection; `None` keeps the current value.
#[derive(Default)]
pub struct ConnectionChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub encrypted_credentials: Option<Vec<u8>>,
}

impl SyncRepo {
    pub async fn load_connection(
        &self,
        connection_id: Uuid,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::SELECT_CONNECTION, &[(&connection_id, Type::UUID)])
            .await
            .map_err(StoreError::db("loading the connection"))?;
        Ok(row.map(|r| ConnectionRecord {
            id: r.get("id"),
            project_id: r.get("project_id"),
            name: r.get("name"),
            app: r.get("app"),
            method: r.get("method"),
            encrypted_credentials: r.get("encrypted_credentials"),
        }))
    }

    /// Creates a connection unless the project already has one of that name.
    pub async fn insert_connection(
        &self,
        project_id: &str,
        name: &str,
        description: Option<&str>,
        encrypted_credentials: &[u8],
        audit: &[AuditEntry],
    ) -> Result<Written<serde_json::Value>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let row = tx
            .query_opt(
                sql::INSERT_CONNECTION,
                &[
                    (&project_id, Type::TEXT),
                    (&name, Type::TEXT),
                    (&description, Type::TEXT),
                    (&encrypted_credentials, Type::BYTEA),
                ],
            )
            .await
            .map_err(StoreError::db("creating the connection"))?;
        let Some(r) = row else {
            return Ok(Written::DuplicateName);
        };
        let created: serde_json::Value = r.get(0);
        let id = created["id"].as_str().unwrap_or_default().to_string();
        for entry in audit {
            insert_audit(&tx, &entry.clone().target(&id)).await?;
        }
        tx.commit("committing the connection").await?;
        Ok(Written::Done(created))
    }

    /// One connection as an API object, with its project.
    pub async fn connection_api_json(
        &self,
        connection_id: Uuid,
    ) -> Result<Option<(String, serde_json::Value)>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::SELECT_CONNECTION_API, &[(&connection_id, Type::UUID)])
            .await
            .map_err(StoreError::db("reading the connection"))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// One page of connections as API objects, by name: of `projects`, or
    /// of every project (`None`, for an admin).
    pub async fn connections_api_json(
        &self,
        projects: Option<&[String]>,
        page: Page,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_CONNECTIONS_API_PAGE,
                &[
                    (&projects, Type::TEXT_ARRAY),
                    (&page.offset, Type::INT8),
                    (&page.limit, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("listing connections"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Connections named `name` in `projects` (every project: `None`), at
    /// most `max` of them, each with its project.
    pub async fn connections_named(
        &self,
        name: &str,
        projects: Option<&[String]>,
        max: i64,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_CONNECTIONS_NAMED,
                &[
                    (&name, Type::TEXT),
                    (&projects, Type::TEXT_ARRAY),
                    (&max, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("finding a connection by name"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn update_connection(
        &self,
        connection_id: Uuid,
        changes: &ConnectionChanges,
        audit: &[AuditEntry],
    ) -> Result<Written<serde_json::Value>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let (set_description, description) = match &changes.description {
            Some(d) => (true, d.clone()),
            None => (false, None),
        };
        let row = tx
            .query_opt(
                sql::UPDATE_CONNECTION,
                &[
                    (&connection_id, Type::UUID),
                    (&changes.name, Type::TEXT),
                    (&set_description, Type::BOOL),
                    (&description, Type::TEXT),
                    (&changes.encrypted_credentials, Type::BYTEA),
                ],
            )
            .await
            .map_err(StoreError::db("updating the connection"))?;
        if let Some(r) = row {
            for entry in audit {
                insert_audit(&tx, entry).await?;
            }
            tx.commit("committing the connection").await?;
            return Ok(Written::Done(r.get(0)));
        }
        let exists = tx
            .query_opt(
                sql::SELECT_CONNECTION_EXISTS,
                &[(&connection_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("reading the connection"))?;
        Ok(if exists.is_some() {
            Written::DuplicateName
        } else {
            Written::Missing
        })
    }

    /// Names of the syncs that use a connection.
    pub async fn syncs_using_connection(
        &self,
        connection_id: Uuid,
    ) -> Result<Vec<String>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_SYNCS_USING_CONNECTION,
                &[(&connection_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("finding syncs of a connection"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Deletes a connection unless a sync uses it; returns the names of
    /// those syncs when it refused.
    pub async fn delete_unused_connection(
        &self,
        connection_id: Uuid,
        audit: &[AuditEntry],
    ) -> Result<Result<bool, Vec<String>>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let n = tx
            .execute(
                sql::DELETE_UNUSED_CONNECTION,
                &[(&connection_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("deleting the connection"))?;
        if n > 0 {
            for entry in audit {
                insert_audit(&tx, entry).await?;
            }
            tx.commit("committing the deletion").await?;
            return Ok(Ok(true));
        }
        // Back to the pool first: holding one connection while waiting for
        // another deadlocks a busy pool.
        drop(tx);
        drop(client);
        let users = self.syncs_using_connection(connection_id).await?;
        Ok(if users.is_empty() {
            Ok(false)
        } else {
            Err(users)
        })
    }
}
