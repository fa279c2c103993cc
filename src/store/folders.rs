//! The source side: folders and their secrets (encrypted; the jobs layer
//! decrypts what it needs, when it needs it).

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{Store, StoreError};

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

    pub async fn folder_secrets(
        &self,
        folder_id: Uuid,
    ) -> Result<Vec<EncryptedSecret>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key, encrypted_value, encrypted_comment FROM secrets
                  WHERE folder_id = $1 ORDER BY key",
                &[(&folder_id, Type::UUID)],
            )
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
        let mut client = self.client().await?;
        let tx = client
            .transaction("starting the import transaction")
            .await?;
        let (mut created, mut updated) = (Vec::new(), Vec::new());
        for s in secrets {
            // xmax = 0 tells a fresh insert from an update.
            let sql = if overwrite {
                "INSERT INTO secrets (folder_id, key, encrypted_value, encrypted_comment)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (folder_id, key) DO UPDATE
                    SET encrypted_value = EXCLUDED.encrypted_value,
                        version = secrets.version + 1, updated_at = now()
                 RETURNING (xmax = 0) AS inserted"
            } else {
                "INSERT INTO secrets (folder_id, key, encrypted_value, encrypted_comment)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (folder_id, key) DO NOTHING
                 RETURNING (xmax = 0) AS inserted"
            };
            let row = tx
                .query_opt(
                    sql,
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
