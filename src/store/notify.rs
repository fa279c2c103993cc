//! Notification channels, the outbox the job outcome writes into
//! (`jobs/lifecycle.rs`), and deliveries: formed per channel once its oldest
//! waiting event is `window` old (so a burst becomes one digest), claimed
//! for a while by one worker, then marked delivered or put back for a retry.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::audit::insert_audit;
use super::sql::notify as sql;
use super::written::{is_unique_violation, Written};
use super::{Outbox, StoreError};
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
    /// An email channel's settings (`notify::email::EmailSettings` minus
    /// host, port and security, which are in the encrypted URL).
    pub email: Option<serde_json::Value>,
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
    /// The claim this delivery is held under (only its holder extends it).
    pub claim: Uuid,
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

/// How much one claim may take (`NOTIFY_*`).
#[derive(Clone, Copy, Debug)]
pub struct ClaimLimits {
    /// Events of a channel wait this long for others (one digest).
    pub window: Duration,
    /// The claim's length (extended by its holder while it sends).
    pub claim_for: Duration,
    /// Deliveries to claim at most (the dispatcher's free send slots).
    pub take: i64,
    /// Deliveries held at once per channel, counting other workers' claims.
    pub per_channel: i64,
    /// Deliveries held at once per project, counting other workers' claims.
    pub per_project: i64,
}

/// What creating a channel did.
#[derive(Debug)]
pub enum ChannelInsert {
    Done(Box<ChannelRecord>),
    DuplicateName,
    /// The project already has `limit` channels.
    TooMany {
        limit: i64,
    },
}

/// Serialises claims of every worker, so the per-channel and per-project
/// caps count every claim (a claim is a few milliseconds).
const CLAIM_LOCK: i64 = 0x5ec7_5e9c_0026;

/// A channel as `insert_channel.sql`, `select_channels.sql` and
/// `select_channel.sql` return it.
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
        email: r.get("email"),
    }
}

impl Outbox {
    pub async fn insert_channel(
        &self,
        project_id: &str,
        name: &str,
        kind: &str,
        encrypted_url: &[u8],
        encrypted_secret: Option<&[u8]>,
        audit: &[AuditEntry],
    ) -> Result<Written<ChannelRecord>, StoreError> {
        let inserted = self
            .insert_channel_within(
                project_id,
                name,
                kind,
                encrypted_url,
                encrypted_secret,
                None,
                i64::MAX,
                audit,
            )
            .await?;
        Ok(match inserted {
            ChannelInsert::Done(c) => Written::Done(*c),
            ChannelInsert::DuplicateName | ChannelInsert::TooMany { .. } => Written::DuplicateName,
        })
    }

    /// Creates a channel unless its project already has `limit` (counted
    /// and inserted under a per-project lock, so racing creates cannot pass
    /// it together).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_channel_within(
        &self,
        project_id: &str,
        name: &str,
        kind: &str,
        encrypted_url: &[u8],
        encrypted_secret: Option<&[u8]>,
        email: Option<&serde_json::Value>,
        limit: i64,
        audit: &[AuditEntry],
    ) -> Result<ChannelInsert, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        // Locked first, counted after (a statement of its own, so its
        // snapshot sees a create that committed while this one waited).
        tx.execute(sql::LOCK_PROJECT_CHANNELS, &[(&project_id, Type::TEXT)])
            .await
            .map_err(StoreError::db(
                "locking the project's notification channels",
            ))?;
        let held = tx
            .query_one(sql::COUNT_PROJECT_CHANNELS, &[(&project_id, Type::TEXT)])
            .await
            .map_err(StoreError::db(
                "counting the project's notification channels",
            ))?;
        if held.get::<_, i64>(0) >= limit {
            return Ok(ChannelInsert::TooMany { limit });
        }
        let row = tx
            .query_one(
                sql::INSERT_CHANNEL,
                &[
                    (&project_id, Type::TEXT),
                    (&name, Type::TEXT),
                    (&kind, Type::TEXT),
                    (&encrypted_url, Type::BYTEA),
                    (&encrypted_secret, Type::BYTEA),
                    (&email, Type::JSONB),
                ],
            )
            .await;
        let row = match row {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) => return Ok(ChannelInsert::DuplicateName),
            Err(e) => return Err(StoreError::db("creating the notification channel")(e)),
        };
        let record = channel(&row);
        for entry in audit {
            insert_audit(&tx, &entry.clone().target(record.id)).await?;
        }
        tx.commit("committing the channel").await?;
        Ok(ChannelInsert::Done(Box::new(record)))
    }

    pub async fn channels(&self, project_id: &str) -> Result<Vec<ChannelRecord>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(sql::SELECT_CHANNELS, &[(&project_id, Type::TEXT)])
            .await
            .map_err(StoreError::db("listing notification channels"))?;
        Ok(rows.iter().map(channel).collect())
    }

    pub async fn channel(&self, id: Uuid) -> Result<Option<ChannelRecord>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(sql::SELECT_CHANNEL, &[(&id, Type::UUID)])
            .await
            .map_err(StoreError::db("reading a notification channel"))?;
        Ok(row.as_ref().map(channel))
    }

    /// Replaces email channel `id`'s settings (server, password, the rest)
    /// and clears its failing state; None when it is gone or not an email
    /// channel.
    pub async fn update_email_channel(
        &self,
        id: Uuid,
        encrypted_url: &[u8],
        encrypted_secret: Option<&[u8]>,
        email: &serde_json::Value,
        audit: &[AuditEntry],
    ) -> Result<Option<ChannelRecord>, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let row = tx
            .query_opt(
                sql::UPDATE_EMAIL_CHANNEL,
                &[
                    (&id, Type::UUID),
                    (&encrypted_url, Type::BYTEA),
                    (&encrypted_secret, Type::BYTEA),
                    (email, Type::JSONB),
                ],
            )
            .await
            .map_err(StoreError::db("updating an email channel"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        for entry in audit {
            insert_audit(&tx, entry).await?;
        }
        tx.commit("committing the channel").await?;
        Ok(Some(channel(&row)))
    }

    pub async fn delete_channel(&self, id: Uuid, audit: &[AuditEntry]) -> Result<bool, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let n = tx
            .execute(sql::DELETE_CHANNEL, &[(&id, Type::UUID)])
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
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SELECT_CHANNEL_ATTEMPTS,
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
    /// `limits.window` old: everything waiting goes in one message) and
    /// claims up to `limits.take` due ones for `limits.claim_for` under a
    /// new claim id. Fair: a channel never holds more than `per_channel`
    /// claims at once nor a project more than `per_project` (every worker's
    /// claims counted: claims are taken one at a time under a lock), and
    /// the deliveries are taken round-robin, each project's first before
    /// any project's second and, within a project, each channel's first
    /// before any channel's second. A held claim is never taken; one that
    /// ran out (its worker died) is: delivery is at least once, under a
    /// stable id.
    pub async fn claim_deliveries(&self, limits: ClaimLimits) -> Result<Vec<Delivery>, StoreError> {
        let claim = Uuid::new_v4();
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        tx.execute(sql::LOCK_CLAIMS, &[(&CLAIM_LOCK, Type::INT8)])
            .await
            .map_err(StoreError::db("taking the notification claim lock"))?;
        tx.execute(
            sql::FORM_DELIVERIES,
            &[(&limits.window.as_secs_f64(), Type::FLOAT8)],
        )
        .await
        .map_err(StoreError::db("forming notification deliveries"))?;
        let rows = tx
            .query(
                sql::CLAIM_DELIVERIES,
                &[
                    (&limits.claim_for.as_secs_f64(), Type::FLOAT8),
                    (&claim, Type::UUID),
                    (&limits.take, Type::INT8),
                    (&limits.per_channel, Type::INT8),
                    (&limits.per_project, Type::INT8),
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
                    claim,
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
                        email: r.get("ch_email"),
                    },
                    events: vec![event],
                }),
            }
        }
        Ok(deliveries)
    }

    /// Extends the claim `claim` on `delivery_id` to `claim_for` from now;
    /// false if it is no longer held under that claim (it ran out and
    /// another worker took it, or the delivery was recorded).
    pub async fn extend_claim(
        &self,
        delivery_id: Uuid,
        claim: Uuid,
        claim_for: Duration,
    ) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        let n = client
            .execute(
                sql::EXTEND_CLAIM,
                &[
                    (&delivery_id, Type::UUID),
                    (&claim, Type::UUID),
                    (&claim_for.as_secs_f64(), Type::FLOAT8),
                ],
            )
            .await
            .map_err(StoreError::db("extending a notification claim"))?;
        Ok(n > 0)
    }

    /// Lets another worker take `delivery_id` now (a dispatcher stopping
    /// before its send finished).
    pub async fn release_claim(&self, delivery_id: Uuid, claim: Uuid) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        client
            .execute(
                sql::RELEASE_CLAIM,
                &[(&delivery_id, Type::UUID), (&claim, Type::UUID)],
            )
            .await
            .map_err(StoreError::db("releasing a notification claim"))?;
        Ok(())
    }

    /// Deletes up to `batch` delivery attempts and delivered outbox rows
    /// older than `keep`; returns how many went.
    pub async fn delete_old_deliveries(
        &self,
        keep: Duration,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_one(
                sql::DELETE_OLD_DELIVERIES,
                &[(&keep.as_secs_f64(), Type::FLOAT8), (&batch, Type::INT8)],
            )
            .await
            .map_err(StoreError::db("deleting old notification deliveries"))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Records an attempt: delivered, or put back until `retry_at`; or,
    /// when the delivery's first event is older than `give_up_after` or the
    /// failure is `permanent` (an SMTP server refusing the credentials),
    /// given up (no more attempts; the channel's `last_error` says so).
    /// Returns whether it was given up.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_attempt(
        &self,
        delivery: &Delivery,
        status_code: Option<i32>,
        error: Option<&str>,
        retry_at: Option<DateTime<Utc>>,
        give_up_after: Duration,
        permanent: bool,
    ) -> Result<bool, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction("starting a transaction").await?;
        let events = delivery.events.len() as i32;
        let delivered = error.is_none();
        let recorded = tx
            .query(
                sql::RECORD_DELIVERY,
                &[
                    (&delivery.id, Type::UUID),
                    (&delivered, Type::BOOL),
                    (&retry_at, Type::TIMESTAMPTZ),
                    (&give_up_after.as_secs_f64(), Type::FLOAT8),
                    (&permanent, Type::BOOL),
                ],
            )
            .await
            .map_err(StoreError::db("recording a delivery"))?;
        let Some(first) = recorded.first() else {
            // The channel was deleted meanwhile (its outbox with it).
            return Ok(false);
        };
        let gave_up: bool = first.get(0);
        let error = error.map(|e| {
            if gave_up && permanent {
                format!(
                    "{e}; not retried (another try would fail the same way): fix the \
                     channel's settings (PATCH /api/v1/notification-channels/{})",
                    delivery.channel.id
                )
            } else if gave_up {
                format!(
                    "{e}; stopped retrying this delivery: it is older than \
                     NOTIFY_GIVE_UP_AFTER ({})",
                    humantime::format_duration(give_up_after)
                )
            } else {
                e.to_string()
            }
        });
        tx.execute(
            sql::INSERT_ATTEMPT,
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
        tx.execute(
            sql::UPDATE_CHANNEL_HEALTH,
            &[
                (&delivery.channel.id, Type::UUID),
                (&delivered, Type::BOOL),
                (&error, Type::TEXT),
            ],
        )
        .await
        .map_err(StoreError::db("recording the channel's health"))?;
        tx.commit("committing the attempt").await?;
        Ok(gave_up)
    }
}
