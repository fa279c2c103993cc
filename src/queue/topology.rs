use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::QueueError;
use crate::model::JobType;

/// Exchange and queue names, all under `QUEUE_PREFIX`.
#[derive(Clone, Debug)]
pub struct Names {
    prefix: String,
}

/// Deliveries of one message before the quorum queue dead-letters it: a
/// message that crashes workers ends in `secret-sync.dead`, never in a loop.
pub const DELIVERY_LIMIT: i64 = 10;

impl Names {
    pub fn new(prefix: &str) -> Self {
        Names {
            prefix: prefix.to_string(),
        }
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn jobs_exchange(&self) -> String {
        format!("{}secret-sync.jobs", self.prefix)
    }
    pub fn jobs_queue(&self) -> String {
        format!("{}secret-sync.jobs", self.prefix)
    }
    pub fn events_exchange(&self) -> String {
        format!("{}secret-sync.events", self.prefix)
    }
    pub fn events_queue(&self) -> String {
        format!("{}secret-sync.events", self.prefix)
    }
    pub fn dead_exchange(&self) -> String {
        format!("{}secret-sync.dead", self.prefix)
    }
    pub fn dead_queue(&self) -> String {
        format!("{}secret-sync.dead", self.prefix)
    }
    /// One queue per job type and delay: its TTL expires messages back to
    /// the jobs exchange under the job type's routing key. Quorum queues
    /// (replicated like the jobs queue); the classic `secret-sync.delay.*`
    /// queues of earlier versions had other arguments, which cannot be
    /// changed in place, so these have a name of their own (the old ones
    /// drain by themselves and may then be deleted).
    pub fn delay_queue(&self, job_type: JobType, delay: Duration) -> String {
        format!(
            "{}secret-sync.delayed.{}.{}ms",
            self.prefix,
            job_type,
            delay.as_millis()
        )
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

fn quorum_args(names: &Names) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(names.dead_exchange().into()),
    );
    args
}

/// Declares the brief's topology; idempotent. A queue that exists with other
/// arguments makes RabbitMQ close the channel: the error names the queue.
pub async fn declare_topology(channel: &Channel, names: &Names) -> Result<(), QueueError> {
    let exchange = |name: String, kind: ExchangeKind| async move {
        channel
            .exchange_declare(
                name.clone().into(),
                kind,
                durable_exchange(),
                FieldTable::default(),
            )
            .await
            .map_err(QueueError::broker(format!("declaring exchange {name}")))
    };
    exchange(names.dead_exchange(), ExchangeKind::Fanout).await?;
    exchange(names.jobs_exchange(), ExchangeKind::Direct).await?;
    exchange(names.events_exchange(), ExchangeKind::Topic).await?;

    let mut dead_args = FieldTable::default();
    dead_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    declare_queue(channel, &names.dead_queue(), dead_args).await?;
    bind(channel, &names.dead_queue(), &names.dead_exchange(), "").await?;

    declare_queue(channel, &names.jobs_queue(), quorum_args(names)).await?;
    for key in ["sync", "import", "remove"] {
        bind(channel, &names.jobs_queue(), &names.jobs_exchange(), key).await?;
    }

    declare_queue(channel, &names.events_queue(), quorum_args(names)).await?;
    bind(
        channel,
        &names.events_queue(),
        &names.events_exchange(),
        "secret.changed",
    )
    .await?;
    Ok(())
}

/// Declares the delay queue for `delay` (a quorum queue): messages wait out
/// their TTL there, holding no worker slot, then dead-letter back to the jobs
/// exchange with their original routing key, at least once (RabbitMQ keeps
/// a message until the jobs queue has confirmed it), so losing a node
/// loses no waiting job.
pub async fn declare_delay_queue(
    channel: &Channel,
    names: &Names,
    job_type: JobType,
    delay: Duration,
) -> Result<String, QueueError> {
    let name = names.delay_queue(job_type, delay);
    declare_queue(channel, &name, delay_args(names, job_type, delay)).await?;
    Ok(name)
}

/// Messages waiting in the delay queue for `delay`; declares it (with the
/// publisher's arguments) if no job has used it yet.
pub async fn delay_queue_depth(
    channel: &Channel,
    names: &Names,
    job_type: JobType,
    delay: Duration,
) -> Result<u32, QueueError> {
    let name = names.delay_queue(job_type, delay);
    channel
        .queue_declare(
            name.as_str().into(),
            durable_queue(),
            delay_args(names, job_type, delay),
        )
        .await
        .map(|q| q.message_count())
        .map_err(QueueError::broker(format!("inspecting {name}")))
}

fn delay_args(names: &Names, job_type: JobType, delay: Duration) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    // At-least-once dead-lettering needs `reject-publish` overflow (a
    // queue over a length limit refuses publishes instead of dropping its
    // head); there is no length limit, so it never refuses.
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    args.insert(
        "x-dead-letter-strategy".into(),
        AMQPValue::LongString("at-least-once".into()),
    );
    let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(names.jobs_exchange().into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(job_type.as_str().into()),
    );
    args
}

async fn declare_queue(channel: &Channel, name: &str, args: FieldTable) -> Result<(), QueueError> {
    channel
        .queue_declare(name.into(), durable_queue(), args)
        .await
        .map(|_| ())
        .map_err(QueueError::broker(format!(
            "declaring queue {name} (if it exists with other arguments, delete it or pick another QUEUE_PREFIX)"
        )))
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> Result<(), QueueError> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(QueueError::broker(format!("binding {queue} to {exchange}")))
}
