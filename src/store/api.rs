//! What the HTTP API writes and reads beyond what the worker needs:
//! connections and syncs as API objects, folder lookups by slug and path.
//! Sync objects always come from the `secret_syncs_api` view, so the API
//! and the view never disagree.

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{Store, StoreError};

/// An insert or rename that may hit a unique name.
#[derive(Debug)]
pub enum Written<T> {
    Done(T),
    /// Another row of the project already has this name.
    DuplicateName,
    /// The row to change does not exist (any more).
    Missing,
}

/// Where `environment` + `secretPath` point within a project.
#[derive(Debug, PartialEq, Eq)]
pub enum FolderLookup {
    NoEnvironment,
    NoFolder,
    Folder(Uuid),
}

/// A new sync row; JSON columns already validated by the API.
pub struct NewSync<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub project_id: &'a str,
    pub folder_id: Uuid,
    pub connection_id: Uuid,
    pub is_auto_sync_enabled: bool,
    pub sync_options: &'a serde_json::Value,
    pub destination_config: &'a serde_json::Value,
}

/// Changes to a sync; `None` keeps the current value.
#[derive(Default)]
pub struct SyncChanges {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub folder_id: Option<Uuid>,
    pub connection_id: Option<Uuid>,
    pub is_auto_sync_enabled: Option<bool>,
    pub sync_options: Option<serde_json::Value>,
    pub destination_config: Option<serde_json::Value>,
}

/// Changes to a connection; `None` keeps the current value.
#[derive(Default)]
pub struct ConnectionChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub encrypted_credentials: Option<Vec<u8>>,
}

/// A connection as the API shows it (never its credentials).
const CONNECTION_JSON: &str = "jsonb_build_object(
        'id', c.id, 'name', c.name, 'description', c.description,
        'projectId', c.project_id, 'app', c.app, 'method', c.method,
        'createdAt', c.created_at, 'updatedAt', c.updated_at)";

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

impl Store {
    /// Resolves an environment slug and a normalised folder path.
    pub async fn find_folder(
        &self,
        project_id: &str,
        environment_slug: &str,
        path: &str,
    ) -> Result<FolderLookup, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT f.id FROM environments e
                   LEFT JOIN secret_folders f ON f.environment_id = e.id AND f.path = $3
                  WHERE e.project_id = $1 AND e.slug = $2",
                &[
                    (&project_id, Type::TEXT),
                    (&environment_slug, Type::TEXT),
                    (&path, Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("looking up a folder"))?;
        Ok(match row {
            None => FolderLookup::NoEnvironment,
            Some(r) => match r.get::<_, Option<Uuid>>(0) {
                None => FolderLookup::NoFolder,
                Some(id) => FolderLookup::Folder(id),
            },
        })
    }

    // ---- syncs ----

    /// Whether another sync of the project has this name (the insert's
    /// unique index is the real guard; this only orders the errors).
    pub async fn sync_name_taken(
        &self,
        project_id: &str,
        name: &str,
        except: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT 1 FROM secret_syncs WHERE project_id = $1 AND name = $2
                    AND ($3::uuid IS NULL OR id <> $3)",
                &[
                    (&project_id, Type::TEXT),
                    (&name, Type::TEXT),
                    (&except, Type::UUID),
                ],
            )
            .await
            .map_err(StoreError::db("looking up a sync name"))?;
        Ok(row.is_some())
    }

    pub async fn insert_sync(&self, new: &NewSync<'_>) -> Result<Written<Uuid>, StoreError> {
        let client = self.client().await?;
        let result = client
            .query_one(
                "INSERT INTO secret_syncs (name, description, project_id, folder_id, connection_id,
                        is_auto_sync_enabled, sync_options, destination_config)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    (&new.name, Type::TEXT),
                    (&new.description, Type::TEXT),
                    (&new.project_id, Type::TEXT),
                    (&new.folder_id, Type::UUID),
                    (&new.connection_id, Type::UUID),
                    (&new.is_auto_sync_enabled, Type::BOOL),
                    (new.sync_options, Type::JSONB),
                    (new.destination_config, Type::JSONB),
                ],
            )
            .await;
        match result {
            Ok(row) => Ok(Written::Done(row.get(0))),
            Err(e) if is_unique_violation(&e) => Ok(Written::DuplicateName),
            Err(e) => Err(StoreError::db("creating the sync")(e)),
        }
    }

    /// The project's syncs as API objects, by name.
    pub async fn syncs_api_json(
        &self,
        project_id: &str,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT v.secret_sync FROM secret_syncs_api v JOIN secret_syncs s ON s.id = v.id
                  WHERE s.project_id = $1 ORDER BY s.name",
                &[(&project_id, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("listing syncs"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Applies `changes` and bumps the sync's version.
    pub async fn update_sync(
        &self,
        sync_id: Uuid,
        changes: &SyncChanges,
    ) -> Result<Written<()>, StoreError> {
        let client = self.client().await?;
        let (set_description, description) = match &changes.description {
            Some(d) => (true, d.clone()),
            None => (false, None),
        };
        let result = client
            .execute(
                "UPDATE secret_syncs SET
                    name = coalesce($2, name),
                    description = CASE WHEN $3 THEN $4 ELSE description END,
                    folder_id = coalesce($5, folder_id),
                    connection_id = coalesce($6, connection_id),
                    is_auto_sync_enabled = coalesce($7, is_auto_sync_enabled),
                    sync_options = coalesce($8, sync_options),
                    destination_config = coalesce($9, destination_config),
                    version = version + 1,
                    updated_at = now()
                  WHERE id = $1",
                &[
                    (&sync_id, Type::UUID),
                    (&changes.name, Type::TEXT),
                    (&set_description, Type::BOOL),
                    (&description, Type::TEXT),
                    (&changes.folder_id, Type::UUID),
                    (&changes.connection_id, Type::UUID),
                    (&changes.is_auto_sync_enabled, Type::BOOL),
                    (&changes.sync_options, Type::JSONB),
                    (&changes.destination_config, Type::JSONB),
                ],
            )
            .await;
        match result {
            Ok(0) => Ok(Written::Missing),
            Ok(_) => Ok(Written::Done(())),
            Err(e) if is_unique_violation(&e) => Ok(Written::DuplicateName),
            Err(e) => Err(StoreError::db("updating the sync")(e)),
        }
    }

    /// Marks a sync's first job as never enqueued, so its row says why
    /// nothing happens (the broker was unreachable).
    pub async fn mark_sync_not_enqueued(
        &self,
        sync_id: Uuid,
        message: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE secret_syncs SET sync_status = 'failed', last_sync_message = $2,
                        updated_at = now() WHERE id = $1",
                &[
                    (&sync_id, Type::UUID),
                    (&crate::model::cap_message(message), Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("marking the sync not enqueued"))?;
        Ok(())
    }

    // ---- connections ----

    /// Creates a connection unless the project already has one of that name.
    pub async fn insert_connection(
        &self,
        project_id: &str,
        name: &str,
        description: Option<&str>,
        encrypted_credentials: &[u8],
    ) -> Result<Written<serde_json::Value>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "WITH c AS (
                        INSERT INTO app_connections (project_id, name, description, encrypted_credentials)
                        SELECT $1, $2, $3, $4
                         WHERE NOT EXISTS (SELECT 1 FROM app_connections WHERE project_id = $1 AND name = $2)
                        RETURNING *)
                     SELECT {CONNECTION_JSON} FROM c"
                ),
                &[
                    (&project_id, Type::TEXT),
                    (&name, Type::TEXT),
                    (&description, Type::TEXT),
                    (&encrypted_credentials, Type::BYTEA),
                ],
            )
            .await
            .map_err(StoreError::db("creating the connection"))?;
        Ok(match row {
            Some(r) => Written::Done(r.get(0)),
            None => Written::DuplicateName,
        })
    }

    /// One connection as an API object, with its project.
    pub async fn connection_api_json(
        &self,
        connection_id: Uuid,
    ) -> Result<Option<(String, serde_json::Value)>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT c.project_id, {CONNECTION_JSON} FROM app_connections c WHERE c.id = $1"
                ),
                &[(&connection_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("reading the connection"))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    pub async fn connections_api_json(
        &self,
        project_id: &str,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {CONNECTION_JSON} FROM app_connections c
                      WHERE c.project_id = $1 ORDER BY c.name"
                ),
                &[(&project_id, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("listing connections"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn update_connection(
        &self,
        connection_id: Uuid,
        changes: &ConnectionChanges,
    ) -> Result<Written<serde_json::Value>, StoreError> {
        let client = self.client().await?;
        let (set_description, description) = match &changes.description {
            Some(d) => (true, d.clone()),
            None => (false, None),
        };
        let row = client
            .query_opt(
                &format!(
                    "WITH c AS (
                        UPDATE app_connections SET
                            name = coalesce($2, name),
                            description = CASE WHEN $3 THEN $4 ELSE description END,
                            encrypted_credentials = coalesce($5, encrypted_credentials),
                            updated_at = now()
                         WHERE id = $1
                           AND NOT EXISTS (SELECT 1 FROM app_connections o
                                            WHERE o.project_id = app_connections.project_id
                                              AND o.name = $2 AND o.id <> $1)
                        RETURNING *)
                     SELECT {CONNECTION_JSON} FROM c"
                ),
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
            return Ok(Written::Done(r.get(0)));
        }
        let exists = client
            .query_opt(
                "SELECT 1 FROM app_connections WHERE id = $1",
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
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name FROM secret_syncs WHERE connection_id = $1 ORDER BY name",
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
    ) -> Result<Result<bool, Vec<String>>, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM app_connections WHERE id = $1
                   AND NOT EXISTS (SELECT 1 FROM secret_syncs WHERE connection_id = $1)",
                &[(&connection_id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("deleting the connection"))?;
        if n > 0 {
            return Ok(Ok(true));
        }
        // Back to the pool first: holding one connection while waiting for
        // another deadlocks a busy pool.
        drop(client);
        let users = self.syncs_using_connection(connection_id).await?;
        Ok(if users.is_empty() {
            Ok(false)
        } else {
            Err(users)
        })
    }
}
