//! Message headers the worker sets and reads.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

use super::topology::next_step;
use crate::model::{JobEnvelope, TraceParent};

/// Header names (all `x-secret-sync-*`).
pub struct Headers;

impl Headers {
    /// Attempt number of this delivery of a job (1 when absent).
    pub const ATTEMPT: &'static str = "x-secret-sync-attempt";
    /// Enqueue time in microseconds since the epoch (the AMQP timestamp
    /// property has only whole seconds, too coarse to decide supersession).
    pub const ENQUEUED_AT_MICROS: &'static str = "x-secret-sync-enqueued-at-us";
    /// When a delayed job is due, in microseconds since the epoch: until
    /// then a worker that receives it puts it back on the wait ladder.
    pub const DUE_AT_MICROS: &'static str = "x-secret-sync-due-at-us";
    /// How many times a job was put back without running (sync busy,
    /// database unreachable); not counted as attempts.
    pub const BUSY_COUNT: &'static str = "x-secret-sync-busy-count";
    /// Why a message was dead-lettered, and where it came from.
    pub const DEAD_REASON: &'static str = "x-secret-sync-dead-reason";
    pub const DEAD_SOURCE: &'static str = "x-secret-sync-dead-source";
    pub const DEAD_ROUTING_KEY: &'static str = "x-secret-sync-dead-routing-key";
    pub const DEAD_AT: &'static str = "x-secret-sync-dead-at";
    /// W3C Trace Context: the enqueuing service's span, parent of the job's.
    pub const TRACEPARENT: &'static str = "traceparent";
}

fn header<'a>(props: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    props.headers().as_ref()?.inner().get(name)
}

fn header_i64(props: &BasicProperties, name: &str) -> Option<i64> {
    match header(props, name)? {
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok(),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.parse().ok(),
        _ => None,
    }
}

fn attempt_of(props: &BasicProperties) -> u32 {
    header_i64(props, Headers::ATTEMPT)
        .and_then(|a| u32::try_from(a).ok())
        .filter(|a| *a >= 1)
        .unwrap_or(1)
}

fn deferrals_of(props: &BasicProperties) -> u32 {
    header_i64(props, Headers::BUSY_COUNT)
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(0)
}

/// When the job was enqueued, as precisely as the message says. The whole-
/// second AMQP timestamp is rounded UP: supersession must never skip a job
/// that was really enqueued after a run started.
fn enqueued_at_of(props: &BasicProperties) -> Option<DateTime<Utc>> {
    if let Some(us) = header_i64(props, Headers::ENQUEUED_AT_MICROS) {
        return Utc.timestamp_micros(us).single();
    }
    let secs = i64::try_from((*props.timestamp())?).ok()?;
    Utc.timestamp_opt(secs.checked_add(1)?, 0).single()
}

fn trace_of(props: &BasicProperties) -> Option<TraceParent> {
    match header(props, Headers::TRACEPARENT)? {
        AMQPValue::LongString(s) => TraceParent::parse(std::str::from_utf8(s.as_bytes()).ok()?),
        AMQPValue::ShortString(s) => TraceParent::parse(s.as_str()),
        _ => None,
    }
}

/// When the delayed job is due (none: at once).
fn due_at_of(props: &BasicProperties) -> Option<DateTime<Utc>> {
    Utc.timestamp_micros(header_i64(props, Headers::DUE_AT_MICROS)?)
        .single()
}

/// The longest wait a due time is believed for: no delay this product
/// sets comes near it, so a due time further out was not written by it
/// (a hand-made or corrupted message) and would otherwise go round the
/// ladder for good. Such a job counts as due, and admission decides.
pub(super) const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// How long a job still has to wait at `now`, if long enough for another
/// step of the wait ladder (see [`next_step`]); `None`: it is due.
pub(super) fn wait_left_at(props: &BasicProperties, now: DateTime<Utc>) -> Option<Duration> {
    let left = (due_at_of(props)? - now).to_std().ok()?;
    if left > LONGEST_WAIT {
        return None;
    }
    next_step(left).map(|_| left)
}

/// The job's place in its lifecycle, as the delivery's headers say.
pub fn envelope_of(props: &BasicProperties) -> JobEnvelope {
    JobEnvelope {
        attempt: attempt_of(props),
        deferrals: deferrals_of(props),
        enqueued_at: enqueued_at_of(props).unwrap_or_else(Utc::now),
        trace: trace_of(props),
    }
}

pub fn with_header(mut table: FieldTable, name: &str, value: AMQPValue) -> FieldTable {
    table.insert(name.into(), value);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due_at(due: DateTime<Utc>) -> BasicProperties {
        let headers = with_header(
            FieldTable::default(),
            Headers::DUE_AT_MICROS,
            AMQPValue::LongLongInt(due.timestamp_micros()),
        );
        BasicProperties::default().with_headers(headers)
    }

    /// Now, to the microsecond (what the header holds).
    fn now() -> DateTime<Utc> {
        let now = Utc::now().timestamp_micros();
        Utc.timestamp_micros(now)
            .single()
            .expect("now is a valid time")
    }

    #[test]
    fn a_job_waits_while_at_least_the_precision_is_left() {
        let now = now();
        let ms = |n| chrono::Duration::milliseconds(n);
        assert_eq!(wait_left_at(&BasicProperties::default(), now), None);
        assert_eq!(wait_left_at(&due_at(now - ms(5_000)), now), None);
        assert_eq!(wait_left_at(&due_at(now), now), None);
        assert_eq!(wait_left_at(&due_at(now + ms(124)), now), None);
        assert_eq!(
            wait_left_at(&due_at(now + ms(125)), now),
            Some(Duration::from_millis(125))
        );
        assert_eq!(
            wait_left_at(&due_at(now + ms(9_000)), now),
            Some(Duration::from_secs(9))
        );
        // Further out than any delay this product sets: due, not held for good.
        let day = chrono::Duration::seconds(LONGEST_WAIT.as_secs() as i64);
        assert_eq!(wait_left_at(&due_at(now + day), now), Some(LONGEST_WAIT));
        assert_eq!(wait_left_at(&due_at(now + day + ms(1)), now), None);
    }

    #[test]
    fn a_due_time_written_as_text_is_read_too() {
        let now = now();
        let due = now + chrono::Duration::seconds(3);
        let headers = with_header(
            FieldTable::default(),
            Headers::DUE_AT_MICROS,
            AMQPValue::LongString(due.timestamp_micros().to_string().into()),
        );
        let props = BasicProperties::default().with_headers(headers);
        assert_eq!(wait_left_at(&props, now), Some(Duration::from_secs(3)));
    }
}
