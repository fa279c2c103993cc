//! Syncs as the HTTP API writes and reads them. Sync objects always come
//! from the `secret_syncs_api` view, so the API and the view never disagree.

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::sync_from_row;
use crate::model::{AuditEntry, SyncRecord};
use crate::store::audit::insert_audit;
use crate::store::conn::{RowStream, Tx};
use crate::store::sql::syncs as sql;
use crate::store::written::{is_unique_violation, Written};
use crate::store::SyncRepo;
use crate::store::{Page, StoreError};

/// A page of syncs as API objects, read as the answer is written: up to
/// 10,000 syncs never sit in memory at once.
pub struct SyncList {
    /// Every sync the list's filter matches, before the page's offset and
    /// limit: a caller that asked for the whole list can refuse a longer
    /// one before it starts answering.
    pub total: i64,
    /// The page's syncs, each one JSON object.
    pub syncs: futures::stream::BoxStream<'static, Result<serde_json::Value, StoreError>>,
}

impl SyncList {
    /// The first row carries the total (`count(*) OVER ()`): read it, then
    /// put it back in front of the rest.
    async fn read(action: &'static str, mut rows: RowStream) -> Result<SyncList, StoreError> {
        use futures::StreamExt;
        let first = rows
            .next()
            .await
            .transpose()
            .map_err(StoreError::db(action))?;
        let total = match &first {
            Some(row) => row.try_get("total").map_err(StoreError::db(action))?,
            None => 0,
        };
        let object = move |row: Result<tokio_postgres::Row, tokio_postgres::Error>| {
            row.and_then(|r| r.try_get::<_, serde_json::Value>(0))
                .map_err(StoreError::db(action))
        };
        let syncs = futures::stream::iter(first.map(Ok))
            .chain(rows)
            .map(object)
            .boxed();
        Ok(SyncList { total, syncs })
    }
}

/// A new sync row; JSON columns already validated by the API.
pub struct NewSync<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub project_id: &'a str,
    pub folder_id: Uuid,
    pub connection_id: Uuid,
    pub is_auto_sync_enabled: bool,
    pub sync_options: &'a serde_json::Value,
    pub destination_config: &'a serde_json::Value,
}

/// Changes to a sync; `None` keeps the current value.
#[derive(Default)]
pub struct SyncChanges {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub folder_id: Option<Uuid>,
    pub connection_id: Option<Uuid>,
    pub is_auto_sync_enabled: Option<bool>,
    pub sync_options: Option<serde_json::Value>,
    pub destination_config: Option<serde_json::Value>,
}

/// The rule a new or changed sync's destination must pass, checked inside
/// the write's own transaction against the syncs already writing to the
/// same app, under a lock on that app: two racing writes to one
/// destination take turns, so they cannot both pass.
pub struct DestinationCheck<'a> {
    pub org: &'a str,
    pub app: &'a str,
    /// The refusal's message, if the syncs at the destination rule it out.
    pub refuse: &'a (dyn Fn(&[SyncRecord]) -> Option<String> + Send + Sync),
}

impl DestinationCheck<'_> {
    /// Takes the destination's lock (until the transaction ends) and runs
    /// the rule against the syncs writing there.
    async fn run(&self, tx: &Tx<'_>) -> Result<Option<String>, StoreError> {
        let key = format!("secret-sync destination {}/{}", self.org, self.app);
        tx.execute(sql::LOCK_DESTINATION, &[(&key, Type::TEXT)])
            .await
            .map_err(StoreError::db("locking the destination"))?;
        let rows = tx
            .query(
                sql::SELECT_SYNCS_AT_DESTINATION,
                &[(&self.org, Type::TEXT), (&self.app, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("finding syncs of a destination"))?;
        let at_destination: Vec<SyncRecord> = rows.iter().map(sync_from_row).collect();
        Ok((self.refuse)(&at_destination))
    }
}

impl SyncRepo {
    /// Whether another sync of the project has this name (the insert's
    /// unique index is the real guard; this only orders the errors).
    pub async fn sync_name_taken(
        &self,
        project_id: &str,
        name: &str,
        except: Option<Uuid>,
    ) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(
                sql::SELECT_SYNC_NAME_TAKEN,
                &[
                    (&project_id, Type::TEXT),
                    (&name, Type::TEXT),
                    (&except, Type::UUID),
                ],
            )
            .await
            .map_err(StoreError::db("looking up a sync name"))?;
        Ok(row.is_some())
    }

    pub async fn insert_sync(
        &self,
        new: &NewSync<'_>,
        check: &DestinationCheck<'_>,
        audit: &[AuditEntry],
    ) -> Result<Written<Uuid>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        if let Some(reason) = check.run(&tx).await? {
            return Ok(Written::Refused(reason));
        }
        let result = tx
            .query_one(
                sql::INSERT_SYNC,
                &[
                    (&new.name, Type::TEXT),
                    (&new.description, Type::TEXT),
                    (&new.project_id, Type::TEXT),
                    (&new.folder_id, Type::UUID),
                    (&new.connection_id, Type::UUID),
                    (&new.is_auto_sync_enabled, Type::BOOL),
                    (new.sync_options, Type::JSONB),
                    (new.destination_config, Type::JSONB),
                ],
            )
            .await;
        let id: Uuid = match result {
            Ok(row) => row.get(0),
            Err(e) if is_unique_violation(&e) => return Ok(Written::DuplicateName),
            Err(e) => return Err(StoreError::db("creating the sync")(e)),
        };
        for entry in audit {
            insert_audit(&tx, &entry.clone().target(id)).await?;
        }
        tx.commit("committing the sync").await?;
        Ok(Written::Done(id))
    }

    /// One page of the project's syncs as API objects, by name.
    pub async fn syncs_api_json(
        &self,
        project_id: &str,
        page: Page,
    ) -> Result<SyncList, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query_stream(
                sql::SELECT_SYNCS_API_PAGE,
                &[
                    (&project_id, Type::TEXT),
                    (&page.offset, Type::INT8),
                    (&page.limit, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("listing syncs"))?;
        SyncList::read("listing syncs", rows).await
    }

    /// One page of the project's syncs whose pushed-keys record holds
    /// `key` (exactly, at any destination), as API objects, by name.
    pub async fn syncs_api_json_with_key(
        &self,
        project_id: &str,
        key: &str,
        page: Page,
    ) -> Result<SyncList, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query_stream(
                sql::SELECT_SYNCS_API_PAGE_WITH_KEY,
                &[
                    (&project_id, Type::TEXT),
                    (&page.offset, Type::INT8),
                    (&page.limit, Type::INT8),
                    (&key, Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("listing syncs that push a key"))?;
        SyncList::read("listing syncs that push a key", rows).await
    }

    /// The id of the project's sync named `name`.
    pub async fn sync_id_by_name(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(
                sql::SELECT_SYNC_ID_BY_NAME,
                &[(&project_id, Type::TEXT), (&name, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("finding a sync by name"))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Applies `changes` and bumps the sync's version.
    /// `check`, when given, runs first (a change of what the sync writes).
    pub async fn update_sync(
        &self,
        sync_id: Uuid,
        changes: &SyncChanges,
        check: Option<&DestinationCheck<'_>>,
        audit: &[AuditEntry],
    ) -> Result<Written<()>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        if let Some(check) = check {
            if let Some(reason) = check.run(&tx).await? {
                return Ok(Written::Refused(reason));
            }
        }
        let (set_description, description) = match &changes.description {
            Some(d) => (true, d.clone()),
            None => (false, None),
        };
        let result = tx
            .execute(
                sql::UPDATE_SYNC,
                &[
                    (&sync_id, Type::UUID),
                    (&changes.name, Type::TEXT),
                    (&set_description, Type::BOOL),
                    (&description, Type::TEXT),
                    (&changes.folder_id, Type::UUID),
                    (&changes.connection_id, Type::UUID),
                    (&changes.is_auto_sync_enabled, Type::BOOL),
                    (&changes.sync_options, Type::JSONB),
                    (&changes.destination_config, Type::JSONB),
                ],
            )
            .await;
        match result {
            Ok(0) => return Ok(Written::Missing),
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(Written::DuplicateName),
            Err(e) => return Err(StoreError::db("updating the sync")(e)),
        }
        for entry in audit {
            insert_audit(&tx, entry).await?;
        }
        tx.commit("committing the sync").await?;
        Ok(Written::Done(()))
    }

    /// Marks a sync's first job as never enqueued, so its row says why
    /// nothing happens (the broker was unreachable).
    pub async fn mark_sync_not_enqueued(
        &self,
        sync_id: Uuid,
        message: &str,
    ) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        client
            .execute(
                sql::MARK_SYNC_NOT_ENQUEUED,
                &[
                    (&sync_id, Type::UUID),
                    (&crate::model::cap_message(message), Type::TEXT),
                ],
            )
            .await
            .map_err(StoreError::db("marking the sync not enqueued"))?;
        Ok(())
    }

    /// The seed API's `secretSync` object for a sync (the `secret_syncs_api` view).
    pub async fn sync_api_json(
        &self,
        sync_id: Uuid,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::SELECT_SYNC_API, &[(&sync_id, Type::UUID)])
            .await
            .map_err(StoreError::db("reading the API view"))?;
        Ok(row.map(|r| r.get(0)))
    }
}
