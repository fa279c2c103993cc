//! The maintenance loops, one file each, all of one shape (the way River,
//! the Go job queue, writes its maintenance services):
//!
//! - a config struct, checked when the loop is made (`X::new(config, ..)`
//!   refuses what cannot work, such as a zero period, with a
//!   [`ConfigError`] naming the loop and the field);
//! - `run_once(&self) -> Result<Round, E>`: one round, returning what it
//!   did (counts) so a test asserts on it;
//! - `start(self, &shutdown) -> LoopHandle`: spawns the loop; it ends when
//!   `shutdown` is cancelled or [`LoopHandle::stop`] is called, which
//!   awaits the task's end;
//! - `with_test_signals(TestSignals)`: events a test awaits (a round done,
//!   a notification sent) instead of sleeping or polling; off unless a test
//!   turns them on with [`TestSignal::on`].
//!
//! The worker (`worker::run`) starts [`gauges`], [`fleet`], [`reaper`],
//! [`orphans`], [`rescuer`], [`pauses`], [`schedule`] and [`notifier`], and stops them on shutdown;
//! the API process (`secret-sync api`) starts [`sweeper`].
//!
//! A round in progress when the loop is stopped is cut where it stands:
//! every round is safe to cut (a transaction rolls back, a claimed row is
//! claimed again later), as it was when the worker aborted these tasks.

pub mod fleet;
pub mod gauges;
pub mod notifier;
pub mod orphans;
pub mod pauses;
pub mod reaper;
pub mod rescuer;
pub mod schedule;
pub mod sweeper;

use std::future::Future;
use std::time::Duration;

/// How long a round waits for the process's broker connection attempt in
/// flight; while RabbitMQ is down the round ends at once and the next one
/// tries again.
const BROKER_WAIT: Duration = Duration::from_secs(15);

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A loop's config refused: which loop, which field, and why.
#[derive(Debug, thiserror::Error)]
#[error("the {service} loop's {field} {problem}")]
pub struct ConfigError {
    pub service: &'static str,
    pub field: &'static str,
    pub problem: String,
}

impl ConfigError {
    /// Refuses a zero `value` of `field`: a ticking loop would spin (and
    /// tokio's interval panics on a zero period).
    pub(crate) fn zero(
        service: &'static str,
        field: &'static str,
        value: Duration,
    ) -> Result<(), ConfigError> {
        if value.is_zero() {
            return Err(ConfigError {
                service,
                field,
                problem: "must be more than zero (a loop ticking every 0 s would spin)".into(),
            });
        }
        Ok(())
    }

    /// Refuses a count of `field` below `least`.
    pub(crate) fn at_least(
        service: &'static str,
        field: &'static str,
        value: u64,
        least: u64,
    ) -> Result<(), ConfigError> {
        if value < least {
            return Err(ConfigError {
                service,
                field,
                problem: format!("must be at least {least}, got {value}"),
            });
        }
        Ok(())
    }
}

/// A started loop. [`LoopHandle::stop`] ends it and waits until it has.
/// Dropped without `stop`, the loop runs on until the shutdown it was
/// started with.
#[must_use = "a loop is stopped through its handle"]
pub struct LoopHandle {
    service: &'static str,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl LoopHandle {
    /// Spawns `body`, which must return once the token it is given is
    /// cancelled: a child of `shutdown`, so the loop ends on the process's
    /// shutdown or on [`LoopHandle::stop`], whichever comes first.
    pub(crate) fn spawn<F>(
        service: &'static str,
        shutdown: &CancellationToken,
        body: impl FnOnce(CancellationToken) -> F,
    ) -> LoopHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stop = shutdown.child_token();
        let task = tokio::spawn(body(stop.clone()));
        LoopHandle {
            service,
            stop,
            task,
        }
    }

    /// Which loop this is (`reaper`, `rescuer`, ...).
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Tells the loop to stop and waits for its task to end.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            if e.is_panic() {
                tracing::error!(service = self.service, error = %e, "a maintenance loop panicked");
            }
        }
    }
}

/// A periodic ticker (not a retry): first tick after `first`, then every
/// `period`; a round that overruns delays the next tick instead of causing
/// a burst of catch-up ticks. `period` must not be zero (the configs
/// refuse it).
pub(crate) fn ticker(first: Duration, period: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// Waits for the next tick; false once `stop` is cancelled (then the loop
/// ends).
pub(crate) async fn next_tick(tick: &mut tokio::time::Interval, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        _ = tick.tick() => true,
    }
}

/// Runs `round` unless `stop` is cancelled first (then `None`: the round
/// is cut, see the module's note).
pub(crate) async fn unless_stopped<T>(
    stop: &CancellationToken,
    round: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        () = stop.cancelled() => None,
        done = round => Some(done),
    }
}

/// The rounds of a periodic loop, until `stop` is cancelled: one on every
/// tick (the first after `first`, then every `period`), a failure logged
/// as `failed` (`None`: the round logs its own), each outcome sent to
/// `round_done`.
pub(crate) async fn run_rounds<T, E, F>(
    stop: &CancellationToken,
    (first, period): (Duration, Duration),
    round: impl Fn() -> F,
    failed: Option<&str>,
    round_done: &TestSignal<Result<T, E>>,
) where
    E: std::fmt::Display,
    F: Future<Output = Result<T, E>>,
{
    let mut tick = ticker(first, period);
    while next_tick(&mut tick, stop).await {
        let Some(done) = unless_stopped(stop, round()).await else {
            break;
        };
        if let (Err(e), Some(failed)) = (&done, failed) {
            tracing::warn!(error = %e, "{failed}");
        }
        round_done.send(done);
    }
}

/// One event a loop reports to a test that asked for it (River's
/// `testsignal`): off by default, when the loop sends nothing and holds
/// nothing; on when a test makes it with [`TestSignal::on`], which also
/// gives the test the [`SignalReceiver`] to await. Buffered: an event
/// sent before the test awaits it is kept.
pub struct TestSignal<T> {
    tx: Option<mpsc::UnboundedSender<T>>,
}

impl<T> Default for TestSignal<T> {
    fn default() -> Self {
        TestSignal { tx: None }
    }
}

impl<T> Clone for TestSignal<T> {
    fn clone(&self) -> Self {
        TestSignal {
            tx: self.tx.clone(),
        }
    }
}

impl<T> std::fmt::Debug for TestSignal<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.tx.is_some() { "on" } else { "off" })
    }
}

impl<T> TestSignal<T> {
    /// A signal that is on, and the end a test awaits it at.
    pub fn on() -> (TestSignal<T>, SignalReceiver<T>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (TestSignal { tx: Some(tx) }, SignalReceiver { rx })
    }

    pub fn is_on(&self) -> bool {
        self.tx.is_some()
    }

    /// Reports `event` if the signal is on (nothing otherwise; a test that
    /// stopped listening is no error).
    pub(crate) fn send(&self, event: T) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }
}

/// Where a test awaits a [`TestSignal`]'s events, in order.
pub struct SignalReceiver<T> {
    rx: mpsc::UnboundedReceiver<T>,
}

impl<T> SignalReceiver<T> {
    /// The next event; `None` if none came within `limit` (or the loop is
    /// gone).
    pub async fn wait(&mut self, limit: Duration) -> Option<T> {
        tokio::time::timeout(limit, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The first event, from the next one on, that meets `done` (earlier
    /// ones are passed over); `None` if none did within `limit`.
    pub async fn wait_for(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&T) -> bool,
    ) -> Option<T> {
        let until = async {
            while let Some(event) = self.rx.recv().await {
                if done(&event) {
                    return Some(event);
                }
            }
            None
        };
        tokio::time::timeout(limit, until).await.ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_that_is_off_sends_nothing_and_one_that_is_on_keeps_its_events() {
        let off = TestSignal::<u32>::default();
        assert!(!off.is_on());
        off.send(1);

        let (on, mut events) = TestSignal::on();
        on.send(1);
        on.send(2);
        on.send(3);
        let limit = Duration::from_secs(5);
        assert_eq!(
            events.wait(limit).await,
            Some(1),
            "sent before the wait: kept"
        );
        assert_eq!(events.wait_for(limit, |n| *n == 3).await, Some(3));
        drop(on);
        assert_eq!(events.wait(limit).await, None, "its loop is gone");
    }

    #[tokio::test]
    async fn stop_ends_the_loop_and_leaves_the_shutdown_alone() {
        let shutdown = CancellationToken::new();
        let (round_done, mut rounds) = TestSignal::on();
        let handle = LoopHandle::spawn("test", &shutdown, |stop| async move {
            let mut tick = ticker(Duration::ZERO, Duration::from_millis(10));
            while next_tick(&mut tick, &stop).await {
                round_done.send(());
            }
        });
        assert_eq!(rounds.wait(Duration::from_secs(5)).await, Some(()));
        handle.stop().await;
        assert!(!shutdown.is_cancelled());
        while rounds.wait(Duration::from_secs(5)).await.is_some() {}
    }

    #[tokio::test]
    async fn the_shutdown_ends_every_loop_started_under_it() {
        let shutdown = CancellationToken::new();
        let handle = LoopHandle::spawn("test", &shutdown, |stop| async move {
            stop.cancelled().await;
        });
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), handle.stop())
            .await
            .expect("ended");
    }

    #[test]
    fn a_zero_period_is_refused_naming_the_loop_and_the_field() {
        let e = ConfigError::zero("reaper", "period", Duration::ZERO).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "the reaper loop's period must be more than zero (a loop ticking every 0 s would spin)"
        );
        assert!(ConfigError::zero("reaper", "period", Duration::from_millis(1)).is_ok());
    }
}
