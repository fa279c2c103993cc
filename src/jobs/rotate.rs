//! `secret-sync rotate-key`: re-encrypts every secret, comment and
//! connection under the current ENCRYPTION_KEY, and re-keys the pushed-key
//! fingerprints, reading with ENCRYPTION_KEY_PREVIOUS. Resumable (rows
//! already under the new key are skipped) and safe while workers run (every
//! write is a compare-and-swap; workers read both keys meanwhile).

use std::collections::HashMap;

use serde::Serialize;

use super::context::{settings_of, JobContext};
use super::error::JobError;
use super::source::{load_source, source_entries};
use crate::crypto::Cipher;
use crate::store::EncryptedRow;

/// Rows per read.
const BATCH: i64 = 500;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Re-encrypted (or re-keyed) now.
    pub rewritten: usize,
    /// Already under the new key (an earlier run, or written since).
    pub current: usize,
    /// Left as they were: changed by someone else while we worked (their
    /// write is under the new key), or, for fingerprints, a source that
    /// changed since the push (the next sync rewrites that key anyway).
    pub left: usize,
    /// Readable under neither key: reported by id, never touched.
    pub unreadable: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    pub secrets: Tally,
    pub connections: Tally,
    pub fingerprints: Tally,
    /// Ids of rows no key could read (secrets and connections).
    pub unreadable_ids: Vec<uuid::Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(
        "ENCRYPTION_KEY_PREVIOUS is not set: set ENCRYPTION_KEY to the new key and \
         ENCRYPTION_KEY_PREVIOUS to the old one (on every worker and API process too), then run rotate-key"
    )]
    NoPreviousKey,
    #[error("{0}")]
    Job(#[from] JobError),
}

impl From<crate::store::StoreError> for RotateError {
    fn from(e: crate::store::StoreError) -> Self {
        RotateError::Job(e.into())
    }
}

/// Re-encrypts one row's columns under the current key, or says why not.
enum Reencrypted {
    Current,
    New(EncryptedRow),
    Unreadable,
}

fn reencrypt(cipher: &Cipher, row: &EncryptedRow) -> Reencrypted {
    let columns = std::iter::once(&row.first).chain(row.second.as_ref());
    if columns.clone().all(|c| cipher.is_current(c)) {
        return Reencrypted::Current;
    }
    let again = |c: &Vec<u8>| cipher.decrypt(c).map(|plain| cipher.encrypt(&plain));
    match (
        again(&row.first),
        row.second.as_ref().map(again).transpose(),
    ) {
        (Ok(first), Ok(second)) => Reencrypted::New(EncryptedRow {
            id: row.id,
            first,
            second,
        }),
        _ => Reencrypted::Unreadable,
    }
}

pub async fn rotate_key(
    ctx: &JobContext,
    progress: impl Fn(&str, &Tally),
) -> Result<RotationReport, RotateError> {
    let previous = ctx.cipher.previous().ok_or(RotateError::NoPreviousKey)?;
    let store = &ctx.store;
    let mut report = RotationReport::default();

    for table in ["secrets", "connections"] {
        let mut after = None;
        let mut tally = Tally::default();
        loop {
            let rows = if table == "secrets" {
                store.secrets_after(after, BATCH).await?
            } else {
                store.connections_after(after, BATCH).await?
            };
            let Some(last) = rows.last() else { break };
            after = Some(last.id);
            for row in &rows {
                match reencrypt(&ctx.cipher, row) {
                    Reencrypted::Current => tally.current += 1,
                    Reencrypted::Unreadable => {
                        tally.unreadable += 1;
                        report.unreadable_ids.push(row.id);
                    }
                    Reencrypted::New(new) => {
                        let swapped = if table == "secrets" {
                            store.swap_secret(row, &new).await?
                        } else {
                            store.swap_connection(row, &new).await?
                        };
                        if swapped {
                            tally.rewritten += 1;
                        } else {
                            tally.left += 1;
                        }
                    }
                }
            }
            progress(table, &tally);
        }
        if table == "secrets" {
            report.secrets = tally;
        } else {
            report.connections = tally;
        }
    }

    let mut after = None;
    let mut tally = Tally::default();
    loop {
        let ids = store.sync_ids_after(after, BATCH).await?;
        let Some(last) = ids.last() else { break };
        after = Some(*last);
        for sync_id in ids {
            let rows = store.fingerprints(sync_id).await?;
            if rows.is_empty() {
                continue;
            }
            // old fingerprint -> new, for the source as it is now.
            let mut rekey: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let sync = store.load_sync(sync_id).await?;
            if let Some((sync, folder)) = sync
                .as_ref()
                .and_then(|s| s.folder.as_ref().map(|f| (s, f)))
            {
                if let (Ok(settings), Ok(secrets)) =
                    (settings_of(sync), load_source(ctx, folder).await)
                {
                    let new = source_entries(&secrets, &settings.key_schema, &ctx.cipher);
                    let old = source_entries(&secrets, &settings.key_schema, previous);
                    for (o, n) in old.into_iter().zip(new) {
                        rekey.insert(o.fingerprint, n.fingerprint);
                    }
                }
            }
            for row in &rows {
                if rekey.values().any(|n| n == &row.fingerprint) {
                    tally.current += 1;
                    continue;
                }
                match rekey.get(&row.fingerprint) {
                    Some(new) if store.swap_fingerprint(sync_id, row, new).await? => {
                        tally.rewritten += 1
                    }
                    _ => tally.left += 1,
                }
            }
        }
        progress("fingerprints", &tally);
    }
    report.fingerprints = tally;
    Ok(report)
}
