//! The source side: folders and their secrets (encrypted; the jobs layer
//! decrypts what it needs, when it needs it).

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::sql::folders as sql;
use super::{StoreError, SyncRepo};

/// Where `environment` + `secretPath` point within a project.
#[derive(Debug, PartialEq, Eq)]
pub enum FolderLookup {
    NoEnvironment,
    NoFolder,
    Folder(Uuid),
}

#[derive(Clone)]
pub struct EncryptedSecret {
    pub key: String,
    pub encrypted_value: Vec<u8>,
    pub encrypted_comment: Option<Vec<u8>>,
}

impl SyncRepo {
    /// Resolves an environment slug and a normalised folder path.
    pub async fn find_folder(
        &self,
        project_id: &str,
        environment_slug: &str,
        path: &str,
    ) -> Result<FolderLookup, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(
                sql::SELECT_FOLDER,
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

    pub async fn folder_secrets(
        &self,
        folder_id: Uuid,
    ) -> Result<Vec<EncryptedSecret>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::SELECT_FOLDER_SECRETS, &[(&folder_id, Type::UUID)])
            .await
            .map_err(StoreError::db("loading the folder's secrets"))?;
        Ok(rows
            .iter()
            .map(|r| EncryptedSecret {
                key: r.get("key"),
                encrypted_value: r.get("encrypted_value"),
                encrypted_comment: r.get("encrypted_comment"),
            })
            .collect())
    }

    /// Writes imported secrets in one transaction. With `overwrite` false an
    /// existing key keeps its value. Returns (created, updated) keys.
    pub async fn upsert_secrets(
        &self,
        folder_id: Uuid,
        secrets: &[EncryptedSecret],
        overwrite: bool,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let mut client = self.db.client().await?;
        let tx = client
            .transaction("starting the import transaction")
            .await?;
        let (mut created, mut updated) = (Vec::new(), Vec::new());
        for s in secrets {
            let statement = if overwrite {
                sql::UPSERT_SECRET
            } else {
                sql::INSERT_SECRET_IF_NEW
            };
            let row = tx
                .query_opt(
                    statement,
                    &[
                        (&folder_id, Type::UUID),
                        (&s.key, Type::TEXT),
                        (&s.encrypted_value, Type::BYTEA),
                        (&s.encrypted_comment, Type::BYTEA),
                    ],
                )
                .await
                .map_err(StoreError::db("writing an imported secret"))?;
            match row.map(|r| r.get::<_, bool>("inserted")) {
                Some(true) => created.push(s.key.clone()),
                Some(false) => updated.push(s.key.clone()),
                None => {}
            }
        }
        tx.commit("committing the import").await?;
        Ok((created, updated))
    }
}
