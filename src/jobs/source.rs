//! The source side of a job: a folder's secrets, decrypted, and the
//! planner's view of them (keys mapped, values fingerprinted).

use secrecy::{ExposeSecret, SecretString};

use super::context::JobContext;
use super::error::{JobError, JobFailure};
use super::key_schema::KeySchema;
use super::plan::SourceEntry;
use crate::crypto::{Aad, Cipher, Column};
use crate::model::FolderRecord;

/// A source secret, decrypted. No Debug: it holds the value.
pub struct SourceSecret {
    pub key: String,
    pub value: SecretString,
    pub comment: String,
}

/// The folder's secrets, decrypted. `project` is the sync's: a ciphertext
/// bound to another project (a row copied across) fails to decrypt.
pub async fn load_source(
    ctx: &JobContext,
    project: &str,
    folder: &FolderRecord,
) -> Result<Vec<SourceSecret>, JobError> {
    let rows = ctx.store.syncs.folder_secrets(folder.id).await?;
    rows.into_iter()
        .map(|row| {
            let decrypt_err = |source| JobFailure::Decrypt {
                what: format!("secret `{}` in folder `{}`", row.key, folder.path),
                source,
            };
            let value = ctx
                .cipher
                .decrypt_string(&row.encrypted_value, Aad::new(project, Column::SecretValue))
                .map_err(decrypt_err)?;
            let comment = match &row.encrypted_comment {
                Some(c) => ctx
                    .cipher
                    .decrypt_string(c, Aad::new(project, Column::SecretComment))
                    .map_err(decrypt_err)?,
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

/// The planner's view of the source (pure): destination keys after the
/// schema, and a keyed fingerprint of key, value and description.
pub fn source_entries(
    secrets: &[SourceSecret],
    schema: &KeySchema,
    cipher: &Cipher,
) -> Vec<SourceEntry> {
    secrets
        .iter()
        .map(|s| {
            let dest_key = schema.apply(&s.key);
            let parts: [&[u8]; 3] = [
                dest_key.as_bytes(),
                s.value.expose_secret().as_bytes(),
                s.comment.as_bytes(),
            ];
            SourceEntry {
                fingerprint: cipher.fingerprint(&parts),
                previous_fingerprint: cipher.previous().map(|p| p.fingerprint(&parts)),
                source_key: s.key.clone(),
                dest_key,
                description: s.comment.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_map_keys_and_fingerprint_what_matters() {
        let cipher = Cipher::from_key([7; 32]);
        let schema = KeySchema::parse(Some("P_{{secretKey}}"), "dev").expect("valid");
        let secret = |v: &str, c: &str| SourceSecret {
            key: "A".into(),
            value: SecretString::from(v.to_string()),
            comment: c.into(),
        };
        let base = source_entries(&[secret("1", "")], &schema, &cipher);
        assert_eq!(base[0].dest_key, "P_A");
        assert_eq!(base[0].source_key, "A");
        let same = source_entries(&[secret("1", "")], &schema, &cipher);
        assert_eq!(base[0].fingerprint, same[0].fingerprint);
        let value = source_entries(&[secret("2", "")], &schema, &cipher);
        assert_ne!(base[0].fingerprint, value[0].fingerprint);
        let comment = source_entries(&[secret("1", "note")], &schema, &cipher);
        assert_ne!(base[0].fingerprint, comment[0].fingerprint);
        let other_key = Cipher::from_key([8; 32]);
        let keyed = source_entries(&[secret("1", "")], &schema, &other_key);
        assert_ne!(base[0].fingerprint, keyed[0].fingerprint, "a keyed hash");
    }
}
