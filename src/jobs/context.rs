use secrecy::SecretString;
use serde::Deserialize;

use super::error::JobError;
use super::key_schema::KeySchema;
use super::plan::SourceEntry;
use super::settings::SyncSettings;
use crate::crypto::Cipher;
use crate::humanitec::HumanitecClient;
use crate::store::{FolderRecord, Store, SyncRecord};

/// What every job needs. Cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    pub store: Store,
    pub humanitec: HumanitecClient,
    pub cipher: Cipher,
    /// Humanitec writes in flight at once within one job.
    pub write_concurrency: usize,
}

/// A source secret, decrypted. No Debug: it holds the value.
pub struct SourceSecret {
    pub key: String,
    pub value: SecretString,
    pub comment: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    api_token: String,
}

impl JobContext {
    /// The folder a job reads, or the error that says it is gone.
    pub fn folder<'a>(&self, sync: &'a SyncRecord) -> Result<&'a FolderRecord, JobError> {
        sync.folder.as_ref().ok_or(JobError::FolderMissing)
    }

    pub fn settings(&self, sync: &SyncRecord) -> Result<SyncSettings, JobError> {
        let env = sync
            .folder
            .as_ref()
            .map(|f| f.environment_slug.as_str())
            .unwrap_or_default();
        Ok(SyncSettings::parse(
            &sync.destination_config,
            &sync.sync_options,
            env,
        )?)
    }

    /// The connection's API token, decrypted.
    pub async fn token(&self, sync: &SyncRecord) -> Result<SecretString, JobError> {
        let conn = self
            .store
            .load_connection(sync.connection_id)
            .await?
            .ok_or(JobError::ConnectionNotFound(sync.connection_id))?;
        let unusable = |reason: String| JobError::ConnectionUnusable {
            name: conn.name.clone(),
            reason,
        };
        if conn.app != "humanitec" || conn.method != "api-token" {
            return Err(unusable(format!(
                "it is a `{}` connection using `{}`; Humanitec syncs need app `humanitec` with method `api-token`",
                conn.app, conn.method
            )));
        }
        let json = self
            .cipher
            .decrypt(&conn.encrypted_credentials)
            .map_err(|source| JobError::Decrypt {
                what: format!("the credentials of connection `{}`", conn.name),
                source,
            })?;
        let creds: Credentials = serde_json::from_slice(&json).map_err(|_| {
            // serde's message could quote the JSON: say only what is wrong.
            unusable(
                "its credentials are not the JSON {\"apiToken\": \"...\"}; re-enter the token"
                    .into(),
            )
        })?;
        if creds.api_token.trim().is_empty() {
            return Err(unusable(
                "its API token is empty; re-enter the token".into(),
            ));
        }
        Ok(SecretString::from(creds.api_token))
    }

    /// The folder's secrets, decrypted.
    pub async fn source_secrets(
        &self,
        folder: &FolderRecord,
    ) -> Result<Vec<SourceSecret>, JobError> {
        let rows = self.store.folder_secrets(folder.id).await?;
        rows.into_iter()
            .map(|row| {
                let decrypt_err = |source| JobError::Decrypt {
                    what: format!("secret `{}` in folder `{}`", row.key, folder.path),
                    source,
                };
                let value = self
                    .cipher
                    .decrypt_string(&row.encrypted_value)
                    .map_err(decrypt_err)?;
                let comment = match &row.encrypted_comment {
                    Some(c) => self.cipher.decrypt_string(c).map_err(decrypt_err)?,
                    None => String::new(),
                };
                Ok(SourceSecret {
                    key: row.key,
                    value: SecretString::from(value),
                    comment,
                })
            })
            .collect()
    }

    /// The planner's view of the source: keys mapped, values fingerprinted.
    pub fn source_entries(&self, secrets: &[SourceSecret], schema: &KeySchema) -> Vec<SourceEntry> {
        use secrecy::ExposeSecret;
        secrets
            .iter()
            .map(|s| {
                let dest_key = schema.apply(&s.key);
                SourceEntry {
                    fingerprint: self.cipher.fingerprint(&[
                        dest_key.as_bytes(),
                        s.value.expose_secret().as_bytes(),
                        s.comment.as_bytes(),
                    ]),
                    source_key: s.key.clone(),
                    dest_key,
                    description: s.comment.clone(),
                }
            })
            .collect()
    }
}
