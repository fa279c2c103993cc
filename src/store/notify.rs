//! Notification channels, the outbox the job outcome writes into
//! (`jobs/lifecycle.rs`), and deliveries: formed per channel once its oldest
//! waiting event is `window` old (so a burst becomes one digest), claimed
//! for a while by one worker, then marked delivered or put back for a retry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::audit::insert_audit;
use super::written::{is_unique_violation, Written};
use super::{Store, StoreError};
use crate::model::AuditEntry;

#[derive(Clone, Debug)]
pub struct ChannelRecord {
    pub id: Uuid,
    pub project_id: String,
    pub name: String,
    pub kind: String,
    pub encrypted_url: Vec<u8>,
    pub encrypted_secret: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// One event of a delivery.
#[derive(Clone, Debug)]
pub struct OutboxEvent {
    pub sync_id: Uuid,
    pub sync_name: Option<String>,
    pub destination: Option<serde_json::Value>,
    pub job_id: Uuid,
    pub job_type: String,
    pub event: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// A message to send: its events (one, or a digest), to one channel.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: Uuid,
    pub channel: ChannelRecord,
    pub attempts: i32,
    pub events: Vec<OutboxEvent>,
}

/// One attempt, as the channel's page lists it.
#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub delivery_id: Uuid,
    pub at: DateTime<Utc>,
    pub events: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

const CHANNEL_COLUMNS: &str = "id, project_id, name, kind, encrypted_url, encrypted_secret,
    created_at, failing_since, last_error";

fn channel(r: &tokio_postgres::Row) -> ChannelRecord {
    ChannelRecord {
        id: r.get("id"),
        project_id: r.get("project_id"),
        name: r.get("name"),
        kind: r.get("kind"),
        encrypted_url: r.get("encrypted_url"),
        encrypted_secret: r.get("encrypted_secret"),
        created_at: r.get("created_at"),
        failing_since: r.get("failing_since"),
        last_error: r.get("last_error"),
    }
}

impl Store {
    pub async fn insert_channel(
        &self,
        project_id: &str,
        name: &str,
        kind: &str,
        encrypted_url: &[u8],
        encrypted_secret: Option<&[u8]>,
        audit: &[AuditEntry],
    ) -> Result<Written<ChannelRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO notification_channels
                        (project_id, name, kind, encrypted_url, encrypted_secret)
                     VALUES ($1, $2, $3, $4, $5) RETURNING {CHANNEL_COLUMNS}"
                ),
                &[
                    (&project_id, Type::TEXT),
                    (&name, Type::TEXT),
                    (&kind, Type::TEXT),
                    (&encrypted_url, Type::BYTEA),
                    (&encrypted_secret, Type::BYTEA),
                ],
            )
            .await;
        let row = match row {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) => return Ok(Written::DuplicateName),
            Err(e) => return Err(StoreError::db("creating the notification channel")(e)),
        };
        let record = channel(&row);
        for entry in audit {
            insert_audit(&tx, &entry.clone().target(record.id)).await?;
        }
        tx.commit("committing the channel").await?;
        Ok(Written::Done(record))
    }

    pub async fn channels(&self, project_id: &str) -> Result<Vec<ChannelRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {CHANNEL_COLUMNS} FROM notification_channels
                      WHERE project_id = $1 ORDER BY name"
                ),
                &[(&project_id, Type::TEXT)],
            )
            .await
            .map_err(StoreError::db("listing notification channels"))?;
        Ok(rows.iter().map(channel).collect())
    }

    pub async fn channel(&self, id: Uuid) -> Result<Option<ChannelRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE id = $1"),
                &[(&id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("reading a notification channel"))?;
        Ok(row.as_ref().map(channel))
    }

    pub async fn delete_channel(&self, id: Uuid, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let n = tx
            .execute(
                "DELETE FROM notification_channels WHERE id = $1",
                &[(&id, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("deleting a notification channel"))?;
        if n > 0 {
            for entry in audit {
                insert_audit(&tx, entry).await?;
            }
            tx.commit("committing the deletion").await?;
        }
        Ok(n > 0)
    }

    /// The channel's last `limit` delivery attempts, newest first.
    pub async fn channel_attempts(
        &self,
        channel_id: Uuid,
        limit: i64,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT delivery_id, at, events, status_code, error FROM notification_attempts
                  WHERE channel_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
                &[(&channel_id, Type::UUID), (&limit, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("listing delivery attempts"))?;
        Ok(rows
            .iter()
            .map(|r| AttemptRecord {
                delivery_id: r.get(0),
                at: r.get(1),
                events: r.get(2),
                status_code: r.get(3),
                error: r.get(4),
            })
            .collect())
    }

    /// Forms deliveries (per channel, once its oldest waiting event is
    /// `window` old: everything waiting goes in one message) and claims up
    /// to `limit` due ones for `claim_for` (another worker takes a claim
    /// that ran out: delivery is at least once, under a stable id).
    pub async fn claim_deliveries(
        &self,
        window: Duration,
        claim_for: Duration,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        tx.execute(
            "WITH ready AS (
                SELECT channel_id, gen_random_uuid() AS delivery_id FROM notification_outbox
                 WHERE delivery_id IS NULL AND delivered_at IS NULL
                 GROUP BY channel_id
                HAVING min(created_at) <= now() - make_interval(secs => $1))
             UPDATE notification_outbox o SET delivery_id = ready.delivery_id
               FROM ready
              WHERE o.channel_id = ready.channel_id AND o.delivery_id IS NULL
                AND o.delivered_at IS NULL",
            &[(&window.as_secs_f64(), Type::FLOAT8)],
        )
        .await
        .map_err(StoreError::db("forming notification deliveries"))?;
        let rows = tx
            .query(
                &format!(
                    "WITH due AS (
                        SELECT DISTINCT delivery_id FROM notification_outbox
                         WHERE delivered_at IS NULL AND delivery_id IS NOT NULL
                           AND next_attempt_at <= now()
                           AND (claimed_until IS NULL OR claimed_until < now())
                         LIMIT $2),
                     claimed AS (
                        UPDATE notification_outbox o
                           SET claimed_until = now() + make_interval(secs => $1)
                          FROM due
                         WHERE o.delivery_id = due.delivery_id
                           AND (o.claimed_until IS NULL OR o.claimed_until < now())
                     RETURNING o.*)
                     SELECT c.delivery_id, c.attempts, c.sync_id, c.job_id, c.job_type, c.event,
                            c.message, c.created_at AS at, s.name AS sync_name,
                            s.destination_config AS destination,
                            {}
                       FROM claimed c
                       JOIN notification_channels ch ON ch.id = c.channel_id
                       LEFT JOIN secret_syncs s ON s.id = c.sync_id
                      ORDER BY c.delivery_id, c.id",
                    CHANNEL_COLUMNS
                        .split(',')
                        .map(|c| format!("ch.{} AS ch_{}", c.trim(), c.trim()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &[
                    (&claim_for.as_secs_f64(), Type::FLOAT8),
                    (&limit, Type::INT8),
                ],
            )
            .await
            .map_err(StoreError::db("claiming notification deliveries"))?;
        tx.commit("committing the claim").await?;
        let mut deliveries: Vec<Delivery> = Vec::new();
        for r in &rows {
            let id: Uuid = r.get("delivery_id");
            let event = OutboxEvent {
                sync_id: r.get("sync_id"),
                sync_name: r.get("sync_name"),
                destination: r.get("destination"),
                job_id: r.get("job_id"),
                job_type: r.get("job_type"),
                event: r.get("event"),
                message: r.get("message"),
                at: r.get("at"),
            };
            match deliveries.last_mut() {
                Some(d) if d.id == id => d.events.push(event),
                _ => deliveries.push(Delivery {
                    id,
                    attempts: r.get("attempts"),
                    channel: ChannelRecord {
                        id: r.get("ch_id"),
                        project_id: r.get("ch_project_id"),
                        name: r.get("ch_name"),
                        kind: r.get("ch_kind"),
                        encrypted_url: r.get("ch_encrypted_url"),
                        encrypted_secret: r.get("ch_encrypted_secret"),
                        created_at: r.get("ch_created_at"),
                        failing_since: r.get("ch_failing_since"),
                        last_error: r.get("ch_last_error"),
                    },
                    events: vec![event],
                }),
            }
        }
        Ok(deliveries)
    }

    /// Deletes up to `batch` delivery attempts and delivered outbox rows
    /// older than `keep`; returns how many went.
    pub async fn delete_old_deliveries(
        &self,
        keep: Duration,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "WITH a AS (
                    DELETE FROM notification_attempts WHERE id IN (
                        SELECT id FROM notification_attempts
                         WHERE at < now() - make_interval(secs => $1) ORDER BY at LIMIT $2)
                    RETURNING 1),
                 o AS (
                    DELETE FROM notification_outbox WHERE id IN (
                        SELECT id FROM notification_outbox
                         WHERE delivered_at < now() - make_interval(secs => $1)
                         ORDER BY delivered_at LIMIT $2)
                    RETURNING 1)
                 SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM o)",
                &[(&keep.as_secs_f64(), Type::FLOAT8), (&batch, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("deleting old notification deliveries"))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Records an attempt: delivered, or put back until `retry_at`.
    pub async fn record_attempt(
        &self,
        delivery: &Delivery,
        status_code: Option<i32>,
        error: Option<&str>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let events = delivery.events.len() as i32;
        tx.execute(
            "INSERT INTO notification_attempts (channel_id, delivery_id, events, status_code, error)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                (&delivery.channel.id, Type::UUID),
                (&delivery.id, Type::UUID),
                (&events, Type::INT4),
                (&status_code, Type::INT4),
                (&error, Type::TEXT),
            ],
        )
        .await
        .map_err(StoreError::db("recording a delivery attempt"))?;
        let delivered = retry_at.is_none();
        tx.execute(
            "UPDATE notification_outbox SET attempts = attempts + 1, claimed_until = NULL,
                    delivered_at = CASE WHEN $2 THEN now() END,
                    next_attempt_at = coalesce($3, next_attempt_at)
              WHERE delivery_id = $1",
            &[
                (&delivery.id, Type::UUID),
                (&delivered, Type::BOOL),
                (&retry_at, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .map_err(StoreError::db("recording a delivery"))?;
        tx.execute(
            "UPDATE notification_channels
                SET failing_since = CASE WHEN $2 THEN NULL ELSE coalesce(failing_since, now()) END,
                    last_error = CASE WHEN $2 THEN NULL ELSE $3 END
              WHERE id = $1",
            &[
                (&delivery.channel.id, Type::UUID),
                (&delivered, Type::BOOL),
                (&error, Type::TEXT),
            ],
        )
        .await
        .map_err(StoreError::db("recording the channel's health"))?;
        tx.commit("committing the attempt").await
    }
}
