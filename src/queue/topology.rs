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
    /// The headers exchange of the wait ladder: a delayed job is published
    /// here under its job type, with [`WAIT_STEP_HEADER`] naming the step.
    pub fn wait_exchange(&self) -> String {
        format!("{}secret-sync.wait", self.prefix)
    }
    /// The wait queue of one step of [`WAIT_STEPS`].
    pub fn wait_queue(&self, step: Duration) -> String {
        format!("{}secret-sync.wait.{}ms", self.prefix, step.as_millis())
    }
    /// The wait queues, shortest step first.
    pub fn wait_queues(&self) -> Vec<String> {
        WAIT_STEPS.iter().map(|s| self.wait_queue(*s)).collect()
    }
    /// Every queue of the topology: jobs, events, dead and the wait ladder
    /// (the most a `QUEUE_PREFIX` ever holds).
    pub fn queues(&self) -> Vec<String> {
        let mut queues = vec![self.jobs_queue(), self.events_queue(), self.dead_queue()];
        queues.extend(self.wait_queues());
        queues
    }
    /// Every exchange of the topology.
    pub fn exchanges(&self) -> Vec<String> {
        vec![
            self.jobs_exchange(),
            self.events_exchange(),
            self.dead_exchange(),
            self.wait_exchange(),
        ]
    }
    /// The delay queue earlier versions declared per job type and delay
    /// (`secret-sync.delayed.<type>.<ms>ms`). Nothing declares it any more:
    /// an old one keeps its TTL and dead-letter route, drains by itself and
    /// may then be deleted. Named here for clean-ups and checks only.
    pub fn legacy_delay_queue(&self, job_type: JobType, delay: Duration) -> String {
        format!(
            "{}secret-sync.delayed.{}.{}ms",
            self.prefix,
            job_type,
            delay.as_millis()
        )
    }
}

/// The wait ladder: the steps a delayed job waits out, shared by every job
/// type, one quorum queue each. Every default delay is a step or a multiple
/// of one (`SYNC_DEBOUNCE` 250 ms, `SYNC_BUSY_DELAY` 2 s, `JOB_RETRY_DELAYS`
/// 10 s, 30 s, 2 m, 10 m); any other delay is a sum of steps to within
/// [`WAIT_PRECISION`] (see [`next_step`]).
pub const WAIT_STEPS: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(120),
];

/// How close to its due time a delayed job runs: half the smallest step,
/// either way (plus a hop's latency, a few milliseconds).
pub const WAIT_PRECISION: Duration = Duration::from_millis(125);

/// The header the wait exchange routes on (a step in milliseconds, as
/// text). Not `x-`: a headers exchange ignores `x-` headers when matching.
pub const WAIT_STEP_HEADER: &str = "secret-sync-wait";

/// The step a job with `remaining` left to wait waits out next: the
/// largest step no longer than `remaining`, or the smallest one if
/// `remaining` is shorter than that. `None` once less than
/// [`WAIT_PRECISION`] is left: the job is due. So a delay is kept to within
/// 125 ms (250 ms at worst from one end to the other): a remainder under
/// 125 ms is dropped, one of 125 to 250 ms waits 250 ms.
pub fn next_step(remaining: Duration) -> Option<Duration> {
    if remaining < WAIT_PRECISION {
        return None;
    }
    let smallest = WAIT_STEPS[0];
    Some(
        WAIT_STEPS
            .iter()
            .rev()
            .find(|step| **step <= remaining)
            .copied()
            .unwrap_or(smallest),
    )
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
    exchange(names.wait_exchange(), ExchangeKind::Headers).await?;

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

    for step in WAIT_STEPS {
        let queue = names.wait_queue(step);
        declare_queue(channel, &queue, wait_args(names, step)).await?;
        let mut matching = FieldTable::default();
        matching.insert("x-match".into(), AMQPValue::LongString("all".into()));
        matching.insert(
            WAIT_STEP_HEADER.into(),
            AMQPValue::LongString(step.as_millis().to_string().into()),
        );
        channel
            .queue_bind(
                queue.as_str().into(),
                names.wait_exchange().into(),
                "".into(),
                QueueBindOptions::default(),
                matching,
            )
            .await
            .map_err(QueueError::broker(format!(
                "binding {queue} to {}",
                names.wait_exchange()
            )))?;
    }
    Ok(())
}

/// The arguments of the wait queue of `step` (a quorum queue): messages
/// wait out its TTL there, holding no worker slot, then dead-letter back to
/// the jobs exchange with their original routing key (the job type: no
/// `x-dead-letter-routing-key`), at least once (RabbitMQ keeps a message
/// until the jobs queue has confirmed it), so losing a node loses no
/// waiting job. One TTL per queue: messages expire in order, at its head.
fn wait_args(names: &Names, step: Duration) -> FieldTable {
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
    let ttl = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
    args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(names.jobs_exchange().into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_step_is_the_largest_that_fits_and_the_smallest_for_less() {
        assert_eq!(next_step(ms(0)), None);
        assert_eq!(next_step(ms(124)), None);
        assert_eq!(next_step(ms(125)), Some(ms(250)));
        assert_eq!(next_step(ms(249)), Some(ms(250)));
        assert_eq!(next_step(ms(250)), Some(ms(250)));
        assert_eq!(next_step(ms(1_999)), Some(ms(250)));
        assert_eq!(next_step(ms(2_000)), Some(ms(2_000)));
        assert_eq!(next_step(ms(9_999)), Some(ms(2_000)));
        assert_eq!(next_step(ms(10_000)), Some(ms(10_000)));
        assert_eq!(next_step(ms(30_000)), Some(ms(30_000)));
        assert_eq!(next_step(ms(119_999)), Some(ms(30_000)));
        assert_eq!(next_step(ms(120_000)), Some(ms(120_000)));
        assert_eq!(next_step(Duration::from_secs(86_400)), Some(ms(120_000)));
    }

    /// Waits out `delay` step by step as the worker does (each hop exact).
    fn walk(delay: Duration) -> (Duration, usize) {
        let (mut waited, mut hops) = (Duration::ZERO, 0);
        while let Some(step) = next_step(delay.saturating_sub(waited)) {
            waited += step;
            hops += 1;
        }
        (waited, hops)
    }

    #[test]
    fn every_default_delay_is_waited_out_exactly() {
        for (delay, hops) in [
            (ms(250), 1),
            (ms(2_000), 1),
            (ms(10_000), 1),
            (ms(30_000), 1),
            (ms(120_000), 1),
            (ms(600_000), 5),
        ] {
            assert_eq!(walk(delay), (delay, hops), "{delay:?}");
        }
    }

    #[test]
    fn any_delay_is_kept_to_within_the_precision() {
        for n in (0..200_000).step_by(7) {
            let delay = ms(n);
            let (waited, _) = walk(delay);
            let off = waited.abs_diff(delay);
            assert!(off <= WAIT_PRECISION, "{delay:?} waited {waited:?}");
        }
    }

    #[test]
    fn a_prefix_holds_eight_queues_and_no_two_share_a_name() {
        let names = Names::new("p.");
        let queues = names.queues();
        assert_eq!(queues.len(), 8);
        let unique: std::collections::HashSet<_> = queues.iter().collect();
        assert_eq!(unique.len(), 8);
        assert_eq!(names.wait_queue(ms(2_000)), "p.secret-sync.wait.2000ms");
        assert!(queues.iter().all(|q| q.starts_with("p.secret-sync.")));
    }
}
