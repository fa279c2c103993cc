//! How the worker waits before reconnecting to the broker: backon's
//! exponential delays, started over once a session was healthy, and waits
//! that a shutdown ends at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder, Sleeper};
use tokio_util::sync::CancellationToken;

/// First delay of an outage; doubled per failed attempt up to `LONGEST`.
pub const FIRST: Duration = Duration::from_millis(500);
pub const LONGEST: Duration = Duration::from_secs(30);

fn delays() -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(FIRST)
        .with_max_delay(LONGEST)
        .with_factor(2.0)
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
    fn delays_double_to_the_cap_and_start_over_after_a_healthy_session() {
        let (mut delays, healthy) = Delays::new();
        let first: Vec<Duration> = delays.by_ref().take(8).collect();
        assert_eq!(first[..3], [FIRST, FIRST * 2, FIRST * 4]);
        assert_eq!(first[7], LONGEST);
        healthy.store(true, Ordering::Relaxed);
        assert_eq!(delays.next(), Some(FIRST));
        assert_eq!(delays.next(), Some(FIRST * 2));
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
