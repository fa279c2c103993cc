//! Syncs: the rows the jobs read (`SyncRecord`), what the API writes and
//! reads of them, and what each has pushed to Humanitec.

mod api;
mod pushed;

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::audit::insert_audit;
use super::sql::syncs as sql;
use super::{StoreError, SyncRepo};
use crate::model::{AuditEntry, FolderRecord, SyncRecord};

pub use api::{DestinationCheck, NewSync, SyncChanges, SyncList};

/// A sync as `syncs/select_sync.sql` (and the statements that read syncs
/// the same way) returns it.
pub(in crate::store) fn sync_from_row(row: &tokio_postgres::Row) -> SyncRecord {
    let folder_id: Option<Uuid> = row.get("folder_id");
    let folder = match (
        folder_id,
        row.get::<_, Option<String>>("path"),
        row.get::<_, Option<Uuid>>("environment_id"),
        row.get::<_, Option<String>>("slug"),
    ) {
        (Some(id), Some(path), Some(environment_id), Some(environment_slug)) => {
            Some(FolderRecord {
                id,
                path,
                environment_id,
                environment_slug,
            })
        }
        _ => None,
    };
    SyncRecord {
        id: row.get("id"),
        name: row.get("name"),
        project_id: row.get("project_id"),
        connection_id: row.get("connection_id"),
        folder,
        is_auto_sync_enabled: row.get("is_auto_sync_enabled"),
        sync_options: row.get("sync_options"),
        destination_config: row.get("destination_config"),
    }
}

impl SyncRepo {
    pub async fn load_sync(&self, sync_id: Uuid) -> Result<Option<SyncRecord>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::SELECT_SYNC, &[(&sync_id, Type::UUID)])
            .await
            .map_err(StoreError::db("loading the sync"))?;
        Ok(row.as_ref().map(sync_from_row))
    }

    /// The project of each of `ids` that still exists (to attribute dead
    /// letters to projects).
    pub async fn sync_projects(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::SELECT_SYNC_PROJECTS, &[(&ids, Type::UUID_ARRAY)])
            .await
            .map_err(StoreError::db("finding the projects of syncs"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Auto-sync-enabled syncs reading the folder `path` of environment
    /// `environment_slug` in `project_id` (a secret-change event's target).
    pub async fn syncs_for_folder(
        &self,
        project_id: &str,
        environment_slug: &str,
        path: &str,
    ) -> Result<Vec<SyncRecord>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_SYNCS_OF_FOLDER,
                &[
                    (&project_id, Type::TEXT),
                    (&environment_slug, Type::TEXT),
                    (&path, Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("finding syncs of a folder"))?;
        Ok(rows.iter().map(sync_from_row).collect())
    }

    /// Every sync writing to Humanitec app `org`/`app` (any scope), for the
    /// conflict check.
    pub async fn syncs_at_destination(
        &self,
        org: &str,
        app: &str,
    ) -> Result<Vec<SyncRecord>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_SYNCS_AT_DESTINATION,
                &[(&org, Type::TEXT), (&app, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("finding syncs of a destination"))?;
        Ok(rows.iter().map(sync_from_row).collect())
    }

    /// Deletes a sync row (remove jobs with `deleteSyncOnComplete`). Job
    /// history stays.
    pub async fn delete_sync(
        &self,
        sync_id: Uuid,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let n = tx
            .execute(sql::DELETE_SYNC, &[(&sync_id, Type::UUID)])
            .await
            .map_err(StoreError::db("deleting the sync"))?;
        if n > 0 {
            for entry in audit {
                insert_audit(&tx, entry).await?;
            }
            tx.commit("committing the deletion").await?;
        }
        Ok(n > 0)
    }
}
