//! Writes of source rows (projects, folders, secrets, connections, syncs).
//! In production other services write these; the demo and tests use these.

use serde_json::Value;
use uuid::Uuid;

use super::{Store, StoreError};

impl Store {
    pub async fn create_project(&self, id: &str, name: &str) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO projects (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[&id, &name],
            )
            .await
            .map_err(StoreError::db("creating a project"))?;
        Ok(())
    }

    /// Creates environment `slug` and its folder `path`; returns the folder id.
    pub async fn create_folder(
        &self,
        project_id: &str,
        slug: &str,
        path: &str,
    ) -> Result<Uuid, StoreError> {
        let client = self.client().await?;
        let env: Uuid = client
            .query_one(
                "INSERT INTO environments (project_id, slug, name) VALUES ($1, $2, $2)
                 ON CONFLICT (project_id, slug) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                &[&project_id, &slug],
            )
            .await
            .map_err(StoreError::db("creating an environment"))?
            .get(0);
        let folder: Uuid = client
            .query_one(
                "INSERT INTO secret_folders (environment_id, path) VALUES ($1, $2)
                 ON CONFLICT (environment_id, path) DO UPDATE SET path = EXCLUDED.path RETURNING id",
                &[&env, &path],
            )
            .await
            .map_err(StoreError::db("creating a folder"))?
            .get(0);
        Ok(folder)
    }

    /// Creates or replaces a secret (already encrypted).
    pub async fn put_secret(
        &self,
        folder_id: Uuid,
        key: &str,
        encrypted_value: &[u8],
        encrypted_comment: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO secrets (folder_id, key, encrypted_value, encrypted_comment) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (folder_id, key) DO UPDATE SET encrypted_value = EXCLUDED.encrypted_value,
                    encrypted_comment = EXCLUDED.encrypted_comment, version = secrets.version + 1, updated_at = now()",
                &[&folder_id, &key, &encrypted_value, &encrypted_comment],
            )
            .await
            .map_err(StoreError::db("writing a secret"))?;
        Ok(())
    }

    pub async fn delete_secret(&self, folder_id: Uuid, key: &str) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM secrets WHERE folder_id = $1 AND key = $2",
                &[&folder_id, &key],
            )
            .await
            .map_err(StoreError::db("deleting a secret"))?;
        Ok(())
    }

    pub async fn create_connection(
        &self,
        project_id: &str,
        name: &str,
        encrypted_credentials: &[u8],
    ) -> Result<Uuid, StoreError> {
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO app_connections (project_id, name, encrypted_credentials) VALUES ($1, $2, $3) RETURNING id",
                &[&project_id, &name, &encrypted_credentials],
            )
            .await
            .map_err(StoreError::db("creating a connection"))?;
        Ok(row.get(0))
    }

    pub async fn create_sync(
        &self,
        project_id: &str,
        name: &str,
        folder_id: Uuid,
        connection_id: Uuid,
        destination_config: &Value,
        sync_options: &Value,
    ) -> Result<Uuid, StoreError> {
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO secret_syncs (project_id, name, folder_id, connection_id, destination_config, sync_options)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&project_id, &name, &folder_id, &connection_id, destination_config, sync_options],
            )
            .await
            .map_err(StoreError::db("creating a sync"))?;
        Ok(row.get(0))
    }

    /// Runs one statement (tests and the demo use it to break things on purpose).
    pub async fn execute_sql(&self, sql: &str) -> Result<(), StoreError> {
        self.client()
            .await?
            .batch_execute(sql)
            .await
            .map_err(StoreError::db("running a statement"))
    }
}
