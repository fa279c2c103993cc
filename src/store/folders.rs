//! The source side: folders and their secrets (encrypted; the jobs layer
//! decrypts what it needs, when it needs it).

use std::collections::HashMap;

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

/// A folder of a sync's source, as stored: its secrets (encrypted) and
/// the folders it imports, in order.
#[derive(Clone, Default)]
pub struct StoredFolder {
    pub secrets: Vec<EncryptedSecret>,
    /// (environment slug, path) of each import, by position.
    pub imports: Vec<(String, String)>,
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

    /// The folders `wanted` ((environment slug, path) of project
    /// `project_id`) that exist, with their secrets and imports, in one
    /// statement. A folder missing from the answer does not exist.
    pub async fn folder_sources(
        &self,
        project_id: &str,
        wanted: &[(String, String)],
    ) -> Result<HashMap<(String, String), StoredFolder>, StoreError> {
        let (slugs, paths): (Vec<&str>, Vec<&str>) = wanted
            .iter()
            .map(|(slug, path)| (slug.as_str(), path.as_str()))
            .unzip();
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_FOLDER_SOURCES,
                &[
                    (&project_id, Type::TEXT),
                    (&slugs, Type::TEXT_ARRAY),
                    (&paths, Type::TEXT_ARRAY),
                ],
            )
            .await
            .map_err(StoreError::db("loading the source folders"))?;
        let mut folders: HashMap<(String, String), StoredFolder> = HashMap::new();
        for r in &rows {
            let at = (r.get::<_, String>("slug"), r.get::<_, String>("path"));
            let folder = folders.entry(at).or_default();
            match r.get::<_, &str>("kind") {
                "s" => folder.secrets.push(EncryptedSecret {
                    key: r.get("key"),
                    encrypted_value: r.get("encrypted_value"),
                    encrypted_comment: r.get("encrypted_comment"),
                }),
                "i" => folder
                    .imports
                    .push((r.get("import_slug"), r.get("import_path"))),
                _ => {}
            }
        }
        Ok(folders)
    }

    /// The paths of the folders below `path` in environment `slug` (a
    /// recursive sync's subfolders), sorted.
    pub async fn subfolders(
        &self,
        project_id: &str,
        slug: &str,
        path: &str,
    ) -> Result<Vec<String>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_SUBFOLDERS,
                &[
                    (&project_id, Type::TEXT),
                    (&slug, Type::TEXT),
                    (&path, Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("listing the subfolders"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Records the folders besides its own that sync `sync_id` read
    /// (imports, references): a change there auto-syncs it.
    pub async fn record_sync_sources(
        &self,
        sync_id: Uuid,
        read: &[(String, String)],
    ) -> Result<(), StoreError> {
        let (slugs, paths): (Vec<&str>, Vec<&str>) = read
            .iter()
            .map(|(slug, path)| (slug.as_str(), path.as_str()))
            .unzip();
        let client = self.db.client().await?;
        client
            .execute(
                super::sql::syncs::REPLACE_SYNC_SOURCES,
                &[
                    (&sync_id, Type::UUID),
                    (&slugs, Type::TEXT_ARRAY),
                    (&paths, Type::TEXT_ARRAY),
                ],
            )
            .await
            .map_err(StoreError::db("recording the folders a sync reads"))?;
        Ok(())
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
