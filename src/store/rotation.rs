//! Reads and compare-and-swap writes for re-encrypting under a new key.
//! Every write only lands if the row still holds what was read, so a
//! rotation never overwrites a value another service wrote meanwhile.

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{Store, StoreError};

/// One row's encrypted columns (the second is optional, e.g. a comment).
pub struct EncryptedRow {
    pub id: Uuid,
    pub first: Vec<u8>,
    pub second: Option<Vec<u8>>,
}

/// One pushed-key fingerprint.
pub struct FingerprintRow {
    pub destination: String,
    pub key: String,
    pub fingerprint: Vec<u8>,
}

impl Store {
    /// Secrets (value, comment) after `after`, in id order.
    pub async fn secrets_after(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<EncryptedRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, encrypted_value, encrypted_comment FROM secrets
                  WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
                &[(&after, Type::UUID), (&limit, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("reading secrets to re-encrypt"))?;
        Ok(rows
            .iter()
            .map(|r| EncryptedRow {
                id: r.get(0),
                first: r.get(1),
                second: r.get(2),
            })
            .collect())
    }

    /// Replaces a secret's ciphertexts if they are still `old`.
    pub async fn swap_secret(
        &self,
        old: &EncryptedRow,
        new: &EncryptedRow,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE secrets SET encrypted_value = $4, encrypted_comment = $5
                  WHERE id = $1 AND encrypted_value = $2
                    AND encrypted_comment IS NOT DISTINCT FROM $3",
                &[
                    (&old.id, Type::UUID),
                    (&old.first, Type::BYTEA),
                    (&old.second, Type::BYTEA),
                    (&new.first, Type::BYTEA),
                    (&new.second, Type::BYTEA),
                ],
            )
            .await
            .map_err(StoreError::db("re-encrypting a secret"))?;
        Ok(n == 1)
    }

    /// Connections' credentials after `after`, in id order.
    pub async fn connections_after(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<EncryptedRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, encrypted_credentials FROM app_connections
                  WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
                &[(&after, Type::UUID), (&limit, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("reading connections to re-encrypt"))?;
        Ok(rows
            .iter()
            .map(|r| EncryptedRow {
                id: r.get(0),
                first: r.get(1),
                second: None,
            })
            .collect())
    }

    /// Replaces a connection's credentials if they are still `old`.
    pub async fn swap_connection(
        &self,
        old: &EncryptedRow,
        new: &EncryptedRow,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE app_connections SET encrypted_credentials = $3
                  WHERE id = $1 AND encrypted_credentials = $2",
                &[
                    (&old.id, Type::UUID),
                    (&old.first, Type::BYTEA),
                    (&new.first, Type::BYTEA),
                ],
            )
            .await
            .map_err(StoreError::db("re-encrypting a connection"))?;
        Ok(n == 1)
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
