//! `secret-sync rotate-key`: rewrites every encrypted column (each of
//! `crypto::Column::ALL`: secret values and comments, connection
//! credentials, notification channels' URLs and signing secrets) under the
//! current ENCRYPTION_KEY in layout 0x02 (bound to the row's project and
//! column), and re-keys the pushed-key fingerprints, reading with
//! ENCRYPTION_KEY_PREVIOUS. Without a previous key it only rewrites the
//! layout (0x01 rows become 0x02). Resumable (rows already current are
//! skipped) and safe while workers run (every write is a compare-and-swap;
//! workers read both keys and both layouts meanwhile).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::context::{settings_of, JobContext};
use super::error::JobError;
use super::source::{load_source, source_entries, Source};
use crate::crypto::{layout_version, Aad, Cipher, Column, FORMAT_V1};
use crate::store::EncryptedRow;

/// Rows per read.
const BATCH: i64 = 500;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Re-encrypted (or re-keyed) now.
    pub rewritten: usize,
    /// Of those, rows that held a cell in the old layout 0x01.
    pub from_v1: usize,
    /// Already current (an earlier run, or written since).
    pub current: usize,
    /// Left as they were: changed by someone else while we worked (their
    /// write is current), or, for fingerprints, a source that changed
    /// since the push (the next sync rewrites that key anyway).
    pub left: usize,
    /// Readable under neither key: reported by table, column and id, never
    /// touched.
    pub unreadable: usize,
}

/// A cell no key could read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// `table.column`
    pub column: String,
    pub id: uuid::Uuid,
    /// Why (never the value).
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    /// Per table holding encrypted columns (see [`encrypted_tables`]).
    pub tables: BTreeMap<String, Tally>,
    pub fingerprints: Tally,
    /// Whether fingerprints were re-keyed (only with a previous key).
    pub rekeyed_fingerprints: bool,
    pub unreadable: Vec<Unreadable>,
}

impl RotationReport {
    /// One table's tally (zero for a table that is not encrypted).
    pub fn table(&self, table: &str) -> Tally {
        self.tables.get(table).copied().unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("{0}")]
    Job(#[from] JobError),
}

impl From<crate::store::StoreError> for RotateError {
    fn from(e: crate::store::StoreError) -> Self {
        RotateError::Job(e.into())
    }
}

/// The tables that hold ciphertexts (each table of `Column::ALL`, once, in
/// that order), with their encrypted columns. Rotation covers exactly
/// these; `tests/it/rotation.rs` checks the schema has no other.
pub fn encrypted_tables() -> Vec<(&'static str, Vec<Column>)> {
    let mut tables: Vec<(&'static str, Vec<Column>)> = Vec::new();
    for column in Column::ALL {
        match tables.iter_mut().find(|(t, _)| *t == column.table()) {
            Some((_, columns)) => columns.push(column),
            None => tables.push((column.table(), vec![column])),
        }
    }
    tables
}

/// One row's cells rewritten under the current key and layout, or why not.
enum Reencrypted {
    Current,
    New { row: EncryptedRow, from_v1: bool },
    Unreadable(Unreadable),
}

fn reencrypt(cipher: &Cipher, columns: &[Column], row: &EncryptedRow) -> Reencrypted {
    let aad = |column| Aad::new(&row.project, column);
    let mut cells = Vec::with_capacity(row.cells.len());
    let mut changed = false;
    let mut from_v1 = false;
    for (&column, cell) in columns.iter().zip(&row.cells) {
        let Some(data) = cell else {
            cells.push(None);
            continue;
        };
        if cipher.is_current(data, aad(column)) {
            cells.push(Some(data.clone()));
            continue;
        }
        match cipher.decrypt(data, aad(column)) {
            Ok(plain) => {
                changed = true;
                from_v1 |= layout_version(data) == Some(FORMAT_V1);
                cells.push(Some(cipher.encrypt(&plain, aad(column))));
            }
            Err(e) => {
                return Reencrypted::Unreadable(Unreadable {
                    column: column.to_string(),
                    id: row.id,
                    reason: e.to_string(),
                })
            }
        }
    }
    if !changed {
        return Reencrypted::Current;
    }
    Reencrypted::New {
        row: EncryptedRow {
            id: row.id,
            project: row.project.clone(),
            cells,
        },
        from_v1,
    }
}

pub async fn rotate_key(
    ctx: &JobContext,
    progress: impl Fn(&str, &Tally),
) -> Result<RotationReport, RotateError> {
    let store = &ctx.store;
    let mut report = RotationReport::default();

    for (table, columns) in encrypted_tables() {
        let mut after = None;
        let mut tally = Tally::default();
        loop {
            let rows = store
                .keys
                .encrypted_rows_after(table, &columns, after, BATCH)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.id);
            for row in &rows {
                match reencrypt(&ctx.cipher, &columns, row) {
                    Reencrypted::Current => tally.current += 1,
                    Reencrypted::Unreadable(cell) => {
                        tally.unreadable += 1;
                        report.unreadable.push(cell);
                    }
                    Reencrypted::New { row: new, from_v1 } => {
                        if store
                            .keys
                            .swap_encrypted(table, &columns, row, &new)
                            .await?
                        {
                            tally.rewritten += 1;
                            tally.from_v1 += usize::from(from_v1);
                        } else {
                            tally.left += 1;
                        }
                    }
                }
            }
            progress(table, &tally);
        }
        report.tables.insert(table.to_string(), tally);
    }

    // Fingerprints change only with the key.
    let Some(previous) = ctx.cipher.previous() else {
        return Ok(report);
    };
    report.rekeyed_fingerprints = true;
    let mut after = None;
    let mut tally = Tally::default();
    loop {
        let ids = store.keys.sync_ids_after(after, BATCH).await?;
        let Some(last) = ids.last() else { break };
        after = Some(*last);
        for sync_id in ids {
            let rows = store.keys.fingerprints(sync_id).await?;
            if rows.is_empty() {
                continue;
            }
            // old fingerprint -> new, for the source as it is now.
            let mut rekey: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let sync = store.syncs.load_sync(sync_id).await?;
            if let Some((sync, folder)) = sync
                .as_ref()
                .and_then(|s| s.folder.as_ref().map(|f| (s, f)))
            {
                let settings = settings_of(sync);
                let recursive = settings.as_ref().is_ok_and(|s| s.recursive);
                if let (Ok(settings), Ok(Source { secrets, .. })) = (
                    settings,
                    load_source(ctx, &sync.project_id, folder, recursive).await,
                ) {
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
                    Some(new) if store.keys.swap_fingerprint(sync_id, row, new).await? => {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(project: &str, cells: Vec<Option<Vec<u8>>>) -> EncryptedRow {
        EncryptedRow {
            id: uuid::Uuid::nil(),
            project: project.into(),
            cells,
        }
    }

    #[test]
    fn every_encrypted_column_is_in_exactly_one_table() {
        let tables = encrypted_tables();
        let listed: Vec<Column> = tables.iter().flat_map(|(_, c)| c.clone()).collect();
        let mut all = Column::ALL.to_vec();
        all.sort();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(sorted, all);
        assert!(tables
            .iter()
            .all(|(t, columns)| columns.iter().all(|c| c.table() == *t)));
    }

    #[test]
    fn old_layout_and_old_key_are_rewritten_bound_to_the_row() {
        let old = Cipher::from_key([1; 32]);
        let cipher = Cipher::from_key([2; 32]).with_previous(old.clone());
        let columns = [Column::ChannelUrl, Column::ChannelSecret];
        let url = Aad::new("p", Column::ChannelUrl);
        let secret = Aad::new("p", Column::ChannelSecret);

        let v1 = row("p", vec![Some(old.encrypt_v1(b"u")), None]);
        let Reencrypted::New { row: new, from_v1 } = reencrypt(&cipher, &columns, &v1) else {
            panic!("a 0x01 cell under the old key is rewritten");
        };
        assert!(from_v1);
        assert_eq!(new.cells[1], None);
        let cell = new.cells[0].clone().unwrap_or_default();
        assert!(cipher.is_current(&cell, url));
        assert!(Cipher::from_key([2; 32]).decrypt(&cell, url).is_ok());
        assert!(matches!(
            reencrypt(&cipher, &columns, &new),
            Reencrypted::Current
        ));

        // Current key, old layout: rewritten too (no previous key needed).
        let current = Cipher::from_key([2; 32]);
        let v1_current = row("p", vec![Some(current.encrypt_v1(b"u")), None]);
        assert!(matches!(
            reencrypt(&current, &columns, &v1_current),
            Reencrypted::New { from_v1: true, .. }
        ));

        // A cell bound elsewhere is unreadable: named, never rewritten.
        let copied = row(
            "p",
            vec![
                Some(cipher.encrypt(b"u", url)),
                Some(cipher.encrypt(b"s", Aad::new("q", Column::ChannelSecret))),
            ],
        );
        let Reencrypted::Unreadable(cell) = reencrypt(&cipher, &columns, &copied) else {
            panic!("another project's ciphertext is not rewritten");
        };
        assert_eq!(cell.column, "notification_channels.encrypted_secret");
        assert!(cell.reason.contains("another project or column"));
        assert!(cipher.is_current(&cipher.encrypt(b"s", secret), secret));
    }
}
