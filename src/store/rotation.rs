//! Reads and compare-and-swap writes for re-encrypting under a new key (and
//! in layout 0x02). Every table of `crypto::Column::ALL` is covered, by
//! name; every write only lands if the row still holds what was read, so a
//! rotation never overwrites a value another service wrote meanwhile.

use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use super::conn::Param;
use super::sql::{rotation as sql, Sql};
use super::{KeyRotation, StoreError};
use crate::crypto::Column;

/// One row's encrypted cells, in the order of the columns it was read with
/// (`None` for a null cell), and the project its row belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedRow {
    pub id: Uuid,
    pub project: String,
    pub cells: Vec<Option<Vec<u8>>>,
}

/// One pushed-key fingerprint.
pub struct FingerprintRow {
    pub destination: String,
    pub key: String,
    pub fingerprint: Vec<u8>,
}

/// A table's statements: its rows' encrypted cells read
/// (`rotation/select_encrypted/<table>.sql`) and swapped
/// (`rotation/swap_encrypted/<table>.sql`), both with the table's encrypted
/// columns in `Column::ALL`'s order, which this returns too.
fn encrypted_table(table: &str) -> Result<(Sql, Sql, Vec<Column>), StoreError> {
    let (select, swap) = match table {
        "secrets" => (sql::SELECT_ENCRYPTED_SECRETS, sql::SWAP_ENCRYPTED_SECRETS),
        "app_connections" => (
            sql::SELECT_ENCRYPTED_APP_CONNECTIONS,
            sql::SWAP_ENCRYPTED_APP_CONNECTIONS,
        ),
        "notification_channels" => (
            sql::SELECT_ENCRYPTED_NOTIFICATION_CHANNELS,
            sql::SWAP_ENCRYPTED_NOTIFICATION_CHANNELS,
        ),
        _ => {
            return Err(StoreError::Unexpected(
                "re-encrypting a table that holds no encrypted column",
            ))
        }
    };
    let columns = Column::ALL
        .into_iter()
        .filter(|c| c.table() == table)
        .collect();
    Ok((select, swap, columns))
}

/// Where each of `wanted` is among the table's `columns`.
fn positions(columns: &[Column], wanted: &[Column]) -> Result<Vec<usize>, StoreError> {
    wanted
        .iter()
        .map(|w| columns.iter().position(|c| c == w))
        .collect::<Option<_>>()
        .ok_or(StoreError::Unexpected(
            "re-encrypting a column of another table",
        ))
}

impl KeyRotation {
    /// Rows of `table` after `after`, in id order, with the cells of
    /// `columns` (all in `table`).
    pub async fn encrypted_rows_after(
        &self,
        table: &str,
        columns: &[Column],
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<EncryptedRow>, StoreError> {
        let (select, _, table_columns) = encrypted_table(table)?;
        let at = positions(&table_columns, columns)?;
        let client = self.db.client().await?;
        let rows = client
            .query(select, &[(&after, Type::UUID), (&limit, Type::INT8)])
            .await
            .map_err(StoreError::db("reading rows to re-encrypt"))?;
        Ok(rows
            .iter()
            .map(|r| EncryptedRow {
                id: r.get(0),
                project: r.get(1),
                cells: at.iter().map(|i| r.get(2 + i)).collect(),
            })
            .collect())
    }

    /// Replaces a row's cells with `new` if they all still hold `old`'s.
    /// `columns` are every encrypted column of `table`, in any order.
    pub async fn swap_encrypted(
        &self,
        table: &str,
        columns: &[Column],
        old: &EncryptedRow,
        new: &EncryptedRow,
    ) -> Result<bool, StoreError> {
        let (_, swap, table_columns) = encrypted_table(table)?;
        // Each of the table's columns, by where it is in `columns`.
        let at = positions(columns, &table_columns).map_err(|_| {
            StoreError::Unexpected("re-encrypting a row without every encrypted column")
        })?;
        let cells = |row: &EncryptedRow| -> Result<Vec<Option<Vec<u8>>>, StoreError> {
            at.iter()
                .map(|&i| row.cells.get(i).cloned())
                .collect::<Option<_>>()
                .ok_or(StoreError::Unexpected(
                    "re-encrypting a row with fewer cells than columns",
                ))
        };
        let (old_cells, new_cells) = (cells(old)?, cells(new)?);
        let mut params: Vec<Param<'_>> = vec![(&old.id, Type::UUID)];
        params.extend(
            old_cells
                .iter()
                .map(|c| (c as &(dyn ToSql + Sync), Type::BYTEA)),
        );
        params.extend(
            new_cells
                .iter()
                .map(|c| (c as &(dyn ToSql + Sync), Type::BYTEA)),
        );
        let client = self.db.client().await?;
        let changed = client
            .execute(swap, &params)
            .await
            .map_err(StoreError::db("re-encrypting a row"))?;
        Ok(changed == 1)
    }

    /// Sync ids after `after`, in order.
    pub async fn sync_ids_after(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Uuid>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_SYNC_IDS_AFTER,
                &[(&after, Type::UUID), (&limit, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("listing syncs"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Every fingerprint a sync recorded, whatever the destination.
    pub async fn fingerprints(&self, sync_id: Uuid) -> Result<Vec<FingerprintRow>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::SELECT_FINGERPRINTS, &[(&sync_id, Type::UUID)])
            .await
            .map_err(StoreError::db("reading fingerprints"))?;
        Ok(rows
            .iter()
            .map(|r| FingerprintRow {
                destination: r.get(0),
                key: r.get(1),
                fingerprint: r.get(2),
            })
            .collect())
    }

    /// Replaces a fingerprint if it is still `old`.
    pub async fn swap_fingerprint(
        &self,
        sync_id: Uuid,
        row: &FingerprintRow,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        let n = client
            .execute(
                sql::SWAP_FINGERPRINT,
                &[
                    (&sync_id, Type::UUID),
                    (&row.destination, Type::TEXT),
                    (&row.key, Type::TEXT),
                    (&row.fingerprint, Type::BYTEA),
                    (&new, Type::BYTEA),
                ],
            )
            .await
            .map_err(StoreError::db("re-keying a fingerprint"))?;
        Ok(n == 1)
    }
}
