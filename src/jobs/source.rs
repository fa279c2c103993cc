//! The source side of a job (the shell of [`super::resolve`]): the
//! folders a sync reads, loaded and decrypted, and the planner's view of
//! what it pushes (keys mapped, values fingerprinted).

use secrecy::{ExposeSecret, SecretString};

use super::context::JobContext;
use super::error::{JobError, JobFailure};
use super::key_schema::KeySchema;
use super::plan::SourceEntry;
use super::resolve::{self, FolderData, FolderRef, Loaded, RawSecret, Resolution};
use crate::crypto::{Aad, Cipher, Column};
use crate::model::FolderRecord;
use crate::store::{EncryptedSecret, StoredFolder};

/// A source secret, decrypted. No Debug: it holds the value.
pub struct SourceSecret {
    pub key: String,
    pub value: SecretString,
    pub comment: String,
    /// Where it comes from (`env:/path`): the sync's folder, an import or
    /// a subfolder.
    pub origin: String,
}

/// What a sync pushes, and the folders besides its own it read.
pub struct Source {
    pub secrets: Vec<SourceSecret>,
    pub read: Vec<(String, String)>,
}

/// How many rounds of loading a source may take (each loads every folder
/// the previous round found it needs: one per level of nesting).
const MAX_ROUNDS: usize = resolve::MAX_DEPTH + 2;

/// The source a sync pushes (see [`resolve`]): the folder's secrets, its
/// imports and, with `recursive`, its subfolders, references expanded.
/// One statement for a folder without imports or references; one more per
/// level of nesting. `project` is the sync's: a ciphertext bound to another
/// project (a row copied across) fails to decrypt.
pub async fn load_source(
    ctx: &JobContext,
    project: &str,
    folder: &FolderRecord,
    recursive: bool,
) -> Result<Source, JobError> {
    let root = FolderRef::new(&folder.environment_slug, &folder.path);
    let subfolders: Vec<FolderRef> = match recursive {
        true => ctx
            .store
            .syncs
            .subfolders(project, &root.env, &root.path)
            .await?
            .iter()
            .map(|path| FolderRef::new(&root.env, path))
            .collect(),
        false => Vec::new(),
    };
    let mut loaded = Loaded::default();
    let mut wanted: Vec<FolderRef> = std::iter::once(root.clone())
        .chain(subfolders.iter().cloned())
        .collect();
    for _ in 0..MAX_ROUNDS {
        let keys: Vec<(String, String)> = wanted
            .iter()
            .map(|f| (f.env.clone(), f.path.clone()))
            .collect();
        let mut found = ctx.store.syncs.folder_sources(project, &keys).await?;
        for at in wanted.drain(..) {
            let data = match found.remove(&(at.env.clone(), at.path.clone())) {
                Some(stored) => Some(decrypt_folder(ctx, project, &at, stored)?),
                None => None,
            };
            loaded.folders.insert(at, data);
        }
        if !loaded.folders.get(&root).is_some_and(Option::is_some) {
            return Err(JobFailure::FolderMissing.into());
        }
        match resolve::resolve(&root, &subfolders, &loaded).map_err(JobFailure::Source)? {
            Resolution::Need(need) => wanted = need.into_iter().collect(),
            Resolution::Done { secrets, read } => {
                return Ok(Source {
                    secrets: secrets
                        .into_iter()
                        .map(|s| SourceSecret {
                            origin: s.origin.to_string(),
                            key: s.key,
                            value: s.value,
                            comment: s.comment,
                        })
                        .collect(),
                    read: read.into_iter().map(|f| (f.env, f.path)).collect(),
                })
            }
        }
    }
    Err(JobFailure::Source(resolve::SourceError::TooDeep(root)).into())
}

fn decrypt_folder(
    ctx: &JobContext,
    project: &str,
    at: &FolderRef,
    stored: StoredFolder,
) -> Result<FolderData, JobError> {
    let secrets = decrypt(ctx, project, &at.to_string(), stored.secrets)?
        .into_iter()
        .map(|s| RawSecret {
            key: s.key,
            value: s.value,
            comment: s.comment,
        })
        .collect();
    let imports = stored
        .imports
        .iter()
        .map(|(env, path)| FolderRef::new(env, path))
        .collect();
    Ok(FolderData { secrets, imports })
}

/// The folder's own secrets, decrypted, nothing imported or expanded: what
/// an import job writes over.
pub async fn load_folder_secrets(
    ctx: &JobContext,
    project: &str,
    folder: &FolderRecord,
) -> Result<Vec<SourceSecret>, JobError> {
    let rows = ctx.store.syncs.folder_secrets(folder.id).await?;
    let origin = format!("{}:{}", folder.environment_slug, folder.path);
    decrypt(ctx, project, &origin, rows)
}

fn decrypt(
    ctx: &JobContext,
    project: &str,
    folder: &str,
    rows: Vec<EncryptedSecret>,
) -> Result<Vec<SourceSecret>, JobError> {
    rows.into_iter()
        .map(|row| {
            let decrypt_err = |source| JobFailure::Decrypt {
                what: format!("secret `{}` in folder `{folder}`", row.key),
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
                origin: folder.to_string(),
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
            origin: "dev:/".into(),
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
