//! How the worker waits before reconnecting to the broker: backon's
//! exponential delays with jitter (a fleet that lost the broker together
//! does not come back in step), started over once a session was healthy,
//! and waits that a shutdown ends at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder, Sleeper};
use tokio_util::sync::CancellationToken;

/// First delay of an outage; doubled per failed attempt up to `LONGEST`.
/// Short: connection attempts themselves are paced by the process's
/// `queue::Link` (one at a time, its own backoff); these delays space out
/// sessions that connect and then fail at once.
pub const FIRST: Duration = Duration::from_millis(500);
pub const LONGEST: Duration = Duration::from_secs(5);

fn delays() -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(FIRST)
        .with_max_delay(LONGEST)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Reconnect delays that start over after `healthy` is raised: a session
/// that got as far as consuming ended, so this is a new outage.
pub struct Delays {
    current: ExponentialBackoff,
    healthy: Arc<AtomicBool>,
}

impl Delays {
    /// The delays, and the flag a session raises once it is consuming.
    pub fn new() -> (Delays, Arc<AtomicBool>) {
        let healthy = Arc::new(AtomicBool::new(false));
        let delays = Delays {
            current: delays(),
            healthy: healthy.clone(),
        };
        (delays, healthy)
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.healthy.swap(false, Ordering::Relaxed) {
            self.current = delays();
        }
        self.current.next()
    }
}

/// A sleeper for backon's `.sleep()` that a shutdown wakes at once.
pub struct UntilShutdown(pub CancellationToken);

impl Sleeper for UntilShutdown {
    type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        let shutdown = self.0.clone();
        Box::pin(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(delay) => {}
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_with_jitter_and_start_over_after_a_healthy_session() {
        // backon's jitter adds up to one more delay to each.
        let within = |d: Duration, base: Duration| d >= base && d <= base * 2;
        let (mut delays, healthy) = Delays::new();
        let first: Vec<Duration> = delays.by_ref().take(8).collect();
        for (d, base) in first.iter().zip([FIRST, FIRST * 2, FIRST * 4]) {
            assert!(within(*d, base), "{d:?} for {base:?}");
        }
        assert!(within(first[7], LONGEST), "{:?}", first[7]);
        healthy.store(true, Ordering::Relaxed);
        let again = delays.next().expect("endless");
        assert!(within(again, FIRST), "started over: {again:?}");
    }

    #[tokio::test]
    async fn a_shutdown_ends_the_wait_at_once() {
        let shutdown = CancellationToken::new();
        let wait = UntilShutdown(shutdown.clone()).sleep(Duration::from_secs(3600));
        shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(5), wait).await;
        assert!(ended.is_ok(), "the wait outlived the shutdown");
    }
}
