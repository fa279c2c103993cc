//! Reads and compare-and-swap writes for re-encrypting under a new key (and
//! in layout 0x02). Every table of `crypto::Column::ALL` is covered, by
//! name; every write only lands if the row still holds what was read, so a
//! rotation never overwrites a value another service wrote meanwhile.

use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use super::{Store, StoreError};
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

/// `FROM` clause (the table as `t`) and the expression of a row's project.
/// Secrets find theirs through folder and environment; the other tables
/// hold a `project_id`.
fn from_and_project(table: &str) -> (String, &'static str) {
    match table {
        "secrets" => (
            "secrets t JOIN secret_folders f ON f.id = t.folder_id
                       JOIN environments e ON e.id = f.environment_id"
                .to_string(),
            "e.project_id",
        ),
        _ => (format!("{table} t"), "t.project_id"),
    }
}

impl Store {
    /// Rows of `table` after `after`, in id order, with the cells of
    /// `columns` (all in `table`; names come from `Column`, never input).
    pub async fn encrypted_rows_after(
        &self,
        table: &str,
        columns: &[Column],
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<EncryptedRow>, StoreError> {
        let (from, project) = from_and_project(table);
        let cells: Vec<String> = columns.iter().map(|c| format!("t.{}", c.name())).collect();
        let sql = format!(
            "SELECT t.id, {project}, {cells} FROM {from}
              WHERE $1::uuid IS NULL OR t.id > $1 ORDER BY t.id LIMIT $2",
            cells = cells.join(", ")
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &[(&after, Type::UUID), (&limit, Type::INT8)])
            .await
            .map_err(StoreError::db("reading rows to re-encrypt"))?;
        Ok(rows
            .iter()
            .map(|r| EncryptedRow {
                id: r.get(0),
                project: r.get(1),
                cells: (0..columns.len()).map(|i| r.get(2 + i)).collect(),
            })
            .collect())
    }

    /// Replaces a row's cells with `new` if they all still hold `old`'s.
    pub async fn swap_encrypted(
        &self,
        table: &str,
        columns: &[Column],
        old: &EncryptedRow,
        new: &EncryptedRow,
    ) -> Result<bool, StoreError> {
        let n = columns.len();
        let set: Vec<String> = (0..n)
            .map(|i| format!("{} = ${}", columns[i].name(), 2 + n + i))
            .collect();
        let unchanged: Vec<String> = (0..n)
            .map(|i| format!("{} IS NOT DISTINCT FROM ${}", columns[i].name(), 2 + i))
            .collect();
        let sql = format!(
            "UPDATE {table} SET {} WHERE id = $1 AND {}",
            set.join(", "),
            unchanged.join(" AND ")
        );
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![(&old.id, Type::UUID)];
        params.extend(
            old.cells
                .iter()
                .map(|c| (c as &(dyn ToSql + Sync), Type::BYTEA)),
        );
        params.extend(
            new.cells
                .iter()
                .map(|c| (c as &(dyn ToSql + Sync), Type::BYTEA)),
        );
        let client = self.client().await?;
        let changed = client
            .execute(&sql, &params)
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
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id FROM secret_syncs WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
                &[(&after, Type::UUID), (&limit, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("listing syncs"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Every fingerprint a sync recorded, whatever the destination.
    pub async fn fingerprints(&self, sync_id: Uuid) -> Result<Vec<FingerprintRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT destination, key, fingerprint FROM secret_sync_pushed_keys WHERE sync_id = $1",
                &[(&sync_id, Type::UUID)],
            )
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
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE secret_sync_pushed_keys SET fingerprint = $5
                  WHERE sync_id = $1 AND destination = $2 AND key = $3 AND fingerprint = $4",
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
