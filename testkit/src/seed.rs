//! Rows that other services write in production (projects, folders,
//! secrets, connections, syncs), written here for tests and the demo.

use secret_sync::crypto::{Aad, Column};
use secret_sync::Cipher;
use serde_json::Value;
use uuid::Uuid;

/// One stored ciphertext and where it belongs.
pub struct EncryptedBlob {
    pub id: Uuid,
    pub project: String,
    pub column: Column,
    pub data: Vec<u8>,
}

impl EncryptedBlob {
    pub fn aad(&self) -> Aad<'_> {
        Aad::new(&self.project, self.column)
    }
}

/// Writes source rows straight into a database, encrypting as the
/// secrets manager does. Panics on failure: it is test support.
pub struct Seeder {
    client: tokio_postgres::Client,
    cipher: Cipher,
}

impl Seeder {
    pub async fn connect(database_url: &str, cipher: Cipher) -> Seeder {
        let client = crate::db::connect(database_url).await;
        Seeder { client, cipher }
    }

    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// The connection itself, for tests that read rows back.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }

    pub async fn create_project(&self, id: &str, name: &str) {
        self.client
            .execute(
                "INSERT INTO projects (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[&id, &name],
            )
            .await
            .expect("project");
    }

    /// Creates environment `slug` and its folder `path`; returns the folder id.
    pub async fn create_folder(&self, project_id: &str, slug: &str, path: &str) -> Uuid {
        let env: Uuid = self
            .client
            .query_one(
                "INSERT INTO environments (project_id, slug, name) VALUES ($1, $2, $2)
                 ON CONFLICT (project_id, slug) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                &[&project_id, &slug],
            )
            .await
            .expect("environment")
            .get(0);
        self.client
            .query_one(
                "INSERT INTO secret_folders (environment_id, path) VALUES ($1, $2)
                 ON CONFLICT (environment_id, path) DO UPDATE SET path = EXCLUDED.path RETURNING id",
                &[&env, &path],
            )
            .await
            .expect("folder")
            .get(0)
    }

    /// Folder `folder_id` imports folder `path` of environment `slug` (same
    /// project; the environment is made if new) at `position`, as
    /// Infisical's secret imports.
    pub async fn add_import(&self, folder_id: Uuid, slug: &str, path: &str, position: i32) {
        self.client
            .execute(
                "INSERT INTO environments (project_id, slug, name)
                 SELECT e.project_id, $2, $2 FROM secret_folders f
                   JOIN environments e ON e.id = f.environment_id WHERE f.id = $1
                 ON CONFLICT (project_id, slug) DO NOTHING",
                &[&folder_id, &slug],
            )
            .await
            .expect("environment");
        self.client
            .execute(
                "INSERT INTO secret_imports (folder_id, import_environment_id, import_path, position)
                 SELECT $1, ie.id, $3, $4 FROM secret_folders f
                   JOIN environments e ON e.id = f.environment_id
                   JOIN environments ie ON ie.project_id = e.project_id AND ie.slug = $2
                  WHERE f.id = $1",
                &[&folder_id, &slug, &path, &position],
            )
            .await
            .expect("secret import");
    }

    /// The project a folder belongs to (what its secrets are bound to).
    pub async fn folder_project(&self, folder_id: Uuid) -> String {
        self.client
            .query_one(
                "SELECT e.project_id FROM secret_folders f
                   JOIN environments e ON e.id = f.environment_id WHERE f.id = $1",
                &[&folder_id],
            )
            .await
            .expect("the folder's project")
            .get(0)
    }

    /// Creates or replaces a secret, encrypting value and comment (layout
    /// 0x02, bound to the folder's project).
    pub async fn put_secret(&self, folder_id: Uuid, key: &str, value: &str, comment: Option<&str>) {
        let project = self.folder_project(folder_id).await;
        let value = (self.cipher).encrypt_str(value, Aad::new(&project, Column::SecretValue));
        let comment = comment
            .map(|c| (self.cipher).encrypt_str(c, Aad::new(&project, Column::SecretComment)));
        self.client
            .execute(
                "INSERT INTO secrets (folder_id, key, encrypted_value, encrypted_comment) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (folder_id, key) DO UPDATE SET encrypted_value = EXCLUDED.encrypted_value,
                    encrypted_comment = EXCLUDED.encrypted_comment, version = secrets.version + 1, updated_at = now()",
                &[&folder_id, &key, &value, &comment],
            )
            .await
            .expect("secret");
    }

    pub async fn delete_secret(&self, folder_id: Uuid, key: &str) {
        self.client
            .execute(
                "DELETE FROM secrets WHERE folder_id = $1 AND key = $2",
                &[&folder_id, &key],
            )
            .await
            .expect("delete secret");
    }

    /// The folder's secrets, decrypted, by key.
    pub async fn folder_values(
        &self,
        folder_id: Uuid,
    ) -> std::collections::BTreeMap<String, String> {
        let project = self.folder_project(folder_id).await;
        self.client
            .query(
                "SELECT key, encrypted_value FROM secrets WHERE folder_id = $1",
                &[&folder_id],
            )
            .await
            .expect("secrets")
            .iter()
            .map(|r| {
                let value = self
                    .cipher
                    .decrypt_string(r.get(1), Aad::new(&project, Column::SecretValue))
                    .expect("secret decrypts");
                (r.get(0), value)
            })
            .collect()
    }

    /// Every encrypted column value in the database (each of
    /// `Column::ALL`, non-null), with the project and column it is bound to.
    pub async fn encrypted_blobs(&self) -> Vec<EncryptedBlob> {
        let mut blobs = Vec::new();
        for column in Column::ALL {
            let name = column.name();
            // Secrets find their project through folder and environment.
            let sql = match column.table() {
                "secrets" => format!(
                    "SELECT s.id, e.project_id, s.{name} FROM secrets s
                       JOIN secret_folders f ON f.id = s.folder_id
                       JOIN environments e ON e.id = f.environment_id
                      WHERE s.{name} IS NOT NULL"
                ),
                table => {
                    format!("SELECT id, project_id, {name} FROM {table} WHERE {name} IS NOT NULL")
                }
            };
            for r in self.client.query(&sql, &[]).await.expect("blobs") {
                blobs.push(EncryptedBlob {
                    id: r.get(0),
                    project: r.get(1),
                    column,
                    data: r.get(2),
                });
            }
        }
        blobs
    }

    /// A Humanitec connection holding `token`, encrypted.
    pub async fn create_connection(&self, project_id: &str, name: &str, token: &str) -> Uuid {
        let credentials = self.cipher.encrypt_str(
            &serde_json::json!({ "apiToken": token }).to_string(),
            Aad::new(project_id, Column::ConnectionCredentials),
        );
        self.client
            .query_one(
                "INSERT INTO app_connections (project_id, name, encrypted_credentials) VALUES ($1, $2, $3) RETURNING id",
                &[&project_id, &name, &credentials],
            )
            .await
            .expect("connection")
            .get(0)
    }

    pub async fn create_sync(
        &self,
        project_id: &str,
        name: &str,
        folder_id: Uuid,
        connection_id: Uuid,
        destination_config: &Value,
        sync_options: &Value,
    ) -> Uuid {
        self.client
            .query_one(
                "INSERT INTO secret_syncs (project_id, name, folder_id, connection_id, destination_config, sync_options)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&project_id, &name, &folder_id, &connection_id, destination_config, sync_options],
            )
            .await
            .expect("sync row")
            .get(0)
    }

    /// Syncs `{prefix}{g}` for every `g` in `range`, made in one statement,
    /// each to its own application of the same name in `org`
    /// (overwrite-destination): many syncs without a round trip each.
    pub async fn create_syncs(
        &self,
        project_id: &str,
        prefix: &str,
        folder_id: Uuid,
        connection_id: Uuid,
        org: &str,
        range: std::ops::RangeInclusive<i32>,
    ) -> Vec<Uuid> {
        self.client
            .query(
                "INSERT INTO secret_syncs (project_id, name, folder_id, connection_id,
                                           destination_config, sync_options)
                 SELECT $1, $2 || g, $3, $4,
                        jsonb_build_object('scope', 'application', 'org', $5::text, 'app', $2 || g),
                        '{\"initialSyncBehavior\": \"overwrite-destination\"}'::jsonb
                   FROM generate_series($6::int, $7::int) g
                 RETURNING id",
                &[
                    &project_id,
                    &prefix,
                    &folder_id,
                    &connection_id,
                    &org,
                    range.start(),
                    range.end(),
                ],
            )
            .await
            .expect("sync rows")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// The first column of every row of `sql`, as numbers (counts, timings).
    pub async fn numbers(&self, sql: &str) -> Vec<f64> {
        self.client
            .simple_query(sql)
            .await
            .expect("query runs")
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
                _ => None,
            })
            .collect()
    }

    /// Runs statements as they are (tests break rows on purpose with it).
    pub async fn execute_sql(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .expect("statement runs");
    }
}
