//! What each sync last pushed per destination key (for "fewest calls").

use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::model::{PushedKey, WriteStamp};
use crate::store::sql::syncs as sql;
use crate::store::{StoreError, SyncRepo};

impl SyncRepo {
    pub async fn pushed_keys(
        &self,
        sync_id: Uuid,
        destination: &str,
    ) -> Result<Vec<PushedKey>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_PUSHED_KEYS,
                &[(&sync_id, Type::UUID), (&destination, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("loading pushed keys"))?;
        Ok(rows
            .iter()
            .map(|r| PushedKey {
                key: r.get("key"),
                fingerprint: r.get("fingerprint"),
                secret_version: r.get("secret_version"),
                stamp: match (r.get("dest_created_at"), r.get("dest_updated_at")) {
                    (Some(created_at), Some(updated_at)) => Some(WriteStamp {
                        created_at,
                        updated_at,
                    }),
                    _ => None,
                },
            })
            .collect())
    }

    /// The keys among `keys` that another sync pushed as an override in an
    /// environment of `org`/`app`: the app-level values those overrides rest
    /// on. Read only when an app-scope job is about to prune.
    pub async fn overridden_keys(
        &self,
        sync_id: Uuid,
        org: &str,
        app: &str,
        keys: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Labels are `org/app/env`; org and app are slugs (no `/`).
        let prefix = format!("{org}/{app}/");
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_OVERRIDDEN_KEYS,
                &[
                    (&sync_id, Type::UUID),
                    (&keys, Type::TEXT_ARRAY),
                    (&prefix, Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("finding overridden keys"))?;
        Ok(rows.iter().map(|r| r.get("key")).collect())
    }

    /// Records pushes and forgets deleted keys, in one statement each.
    pub async fn record_pushes(
        &self,
        sync_id: Uuid,
        destination: &str,
        pushed: &[PushedKey],
        forgotten: &[String],
    ) -> Result<(), StoreError> {
        if pushed.is_empty() && forgotten.is_empty() {
            return Ok(());
        }
        let client = self.db.client().await?;
        if !pushed.is_empty() {
            let keys: Vec<&str> = pushed.iter().map(|p| p.key.as_str()).collect();
            let fps: Vec<&[u8]> = pushed.iter().map(|p| p.fingerprint.as_slice()).collect();
            let versions: Vec<Option<&str>> =
                pushed.iter().map(|p| p.secret_version.as_deref()).collect();
            let created: Vec<Option<&str>> = pushed
                .iter()
                .map(|p| p.stamp.as_ref().map(|s| s.created_at.as_str()))
                .collect();
            let updated: Vec<Option<&str>> = pushed
                .iter()
                .map(|p| p.stamp.as_ref().map(|s| s.updated_at.as_str()))
                .collect();
            client
                .execute(
                    sql::UPSERT_PUSHED_KEYS,
                    &[
                        (&sync_id, Type::UUID),
                        (&destination, Type::TEXT),
                        (&keys, Type::TEXT_ARRAY),
                        (&fps, Type::BYTEA_ARRAY),
                        (&versions, Type::TEXT_ARRAY),
                        (&created, Type::TEXT_ARRAY),
                        (&updated, Type::TEXT_ARRAY),
                    ],
                )
                .await
                .map_err(StoreError::db("recording pushed keys"))?;
        }
        if !forgotten.is_empty() {
            client
                .execute(
                    sql::DELETE_PUSHED_KEYS,
                    &[
                        (&sync_id, Type::UUID),
                        (&destination, Type::TEXT),
                        (&forgotten, Type::TEXT_ARRAY),
                    ],
                )
                .await
                .map_err(StoreError::db("forgetting deleted keys"))?;
        }
        Ok(())
    }
}
