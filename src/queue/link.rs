//! One broker connection per process, shared by every part of it (the
//! worker's consumers and publisher, the maintenance loops, the API's
//! triggers, the dashboard's reads), opened one attempt at a time.
//!
//! A broker that is down or overloaded (it then accepts TCP but never
//! answers the handshake) sees at most one attempt in flight from this
//! process, and after a failed one nothing until a backoff with jitter has
//! passed. Callers say how long they may wait: a request handler a second
//! or two (then it answers 503 with the time left as `Retry-After`), the
//! worker for as long as it runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Broker, BrokerAddress, Names, Nodes, QueueError, NODE_CONNECT_TIMEOUT};

/// First wait after a failed attempt; doubled per failure up to `LONGEST`.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);
pub const LONGEST_RETRY: Duration = Duration::from_secs(15);

/// The shared connection. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Link {
    inner: Arc<Inner>,
}

struct Inner {
    nodes: Nodes,
    names: Names,
    role: String,
    state: Mutex<State>,
    changed: Notify,
}

enum State {
    /// No connection; the next attempt may start at `retry_at`.
    Down {
        retry_at: Instant,
        failures: u32,
        last_error: Option<String>,
    },
    /// One attempt is in flight; everyone else waits for its outcome.
    /// `failures` in a row before it, and the last one's error.
    Opening {
        failures: u32,
        last_error: Option<String>,
    },
    Up(Arc<Broker>),
}

/// What a caller does after looking at the state.
enum Next {
    Ready(Arc<Broker>),
    /// Wait for the attempt in flight (or the one this call started).
    Wait,
    /// Down, and the next attempt is due at this time, within the wait.
    WaitUntil(Instant),
    /// Down: nothing is tried before this time; the last attempt's error.
    Refused(Instant, Option<String>),
}

impl Link {
    /// A link to `amqp_url`'s nodes (a list, see [`Nodes`]); nothing is
    /// opened until the first call to [`Link::broker`].
    pub fn new(address: impl Into<BrokerAddress>, names: Names, role: &str) -> Link {
        Link {
            inner: Arc::new(Inner {
                nodes: Nodes::new(address.into()),
                names,
                role: role.to_string(),
                state: Mutex::new(State::Down {
                    retry_at: Instant::now(),
                    failures: 0,
                    last_error: None,
                }),
                changed: Notify::new(),
            }),
        }
    }

    pub fn names(&self) -> &Names {
        &self.inner.names
    }

    pub fn nodes(&self) -> &Nodes {
        &self.inner.nodes
    }

    /// The connection if it is up now; never starts an attempt.
    pub fn current(&self) -> Option<Arc<Broker>> {
        match &*self.inner.lock() {
            State::Up(broker) if broker.is_open() => Some(broker.clone()),
            _ => None,
        }
    }

    /// The shared connection, opened if needed. A call waits at most `wait`,
    /// and for at most one attempt's outcome; when the broker failed lately
    /// and the next attempt is due only after `wait`, it fails at once with
    /// [`QueueError::Unavailable`], which says when it is due.
    pub async fn broker(&self, wait: Duration) -> Result<Arc<Broker>, QueueError> {
        let deadline = Instant::now() + wait;
        let mut waited_for_attempt = false;
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            // Registered before the state is read, so a change between the
            // read and the wait is not missed.
            changed.as_mut().enable();
            match self.next_step(!waited_for_attempt, deadline) {
                Next::Ready(broker) => return Ok(broker),
                Next::Wait => {}
                Next::WaitUntil(retry_at) => {
                    // The next attempt is due within this caller's wait.
                    let _ = tokio::time::timeout_at(retry_at, changed).await;
                    continue;
                }
                Next::Refused(retry_at, cause) => {
                    return Err(QueueError::Unavailable {
                        retry_after: retry_at.saturating_duration_since(Instant::now()),
                        cause: cause.unwrap_or_else(|| "not connected yet".into()),
                    })
                }
            }
            waited_for_attempt = true;
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(QueueError::Unavailable {
                    retry_after: FIRST_RETRY,
                    cause: format!(
                        "the connection attempt in flight has not finished within {} ms",
                        wait.as_millis()
                    ),
                });
            }
        }
    }

    /// Reads the state and, where an attempt is due and `may_start`, starts
    /// it; one due before `deadline` is waited for.
    fn next_step(&self, may_start: bool, deadline: Instant) -> Next {
        let mut state = self.inner.lock();
        let (failures, last_error) = match &*state {
            State::Up(broker) if broker.is_open() => return Next::Ready(broker.clone()),
            State::Up(broker) => {
                // Lost since it was handed out: the next attempt starts at
                // the node after it.
                self.inner.nodes.lost(broker.node_index());
                (0, None)
            }
            // In an outage (the last attempt failed), a caller that may not
            // wait out a whole attempt is answered at once, not after its
            // wait: the attempt in flight most likely fails too.
            State::Opening {
                failures: 1..,
                last_error,
            } if deadline < Instant::now() + NODE_CONNECT_TIMEOUT => {
                return Next::Refused(Instant::now() + FIRST_RETRY, last_error.clone());
            }
            State::Opening { .. } => return Next::Wait,
            State::Down {
                retry_at,
                last_error,
                ..
            } if *retry_at > Instant::now() || !may_start => {
                return if may_start && *retry_at <= deadline {
                    Next::WaitUntil(*retry_at)
                } else {
                    Next::Refused(*retry_at, last_error.clone())
                };
            }
            State::Down {
                failures,
                last_error,
                ..
            } => (*failures, last_error.clone()),
        };
        *state = State::Opening {
            failures,
            last_error,
        };
        drop(state);
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.open(failures).await });
        Next::Wait
    }

    /// The caller met an outage on `broker`: drop it, so the next call
    /// opens a new connection (on the next node of the list), and close it
    /// in the background.
    pub fn lost(&self, broker: &Arc<Broker>) {
        let mut state = self.inner.lock();
        if matches!(&*state, State::Up(current) if Arc::ptr_eq(current, broker)) {
            self.inner.nodes.lost(broker.node_index());
            *state = State::Down {
                retry_at: Instant::now(),
                failures: 0,
                last_error: Some("connection lost".into()),
            };
            drop(state);
            let broker = broker.clone();
            tokio::spawn(async move {
                let close = broker.close("connection lost; reconnecting");
                let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
            });
            self.inner.changed.notify_waiters();
        }
    }

    /// Closes the connection (at shutdown); a later call opens a new one.
    pub async fn close(&self, reason: &str) {
        let up = {
            let mut state = self.inner.lock();
            match std::mem::replace(
                &mut *state,
                State::Down {
                    retry_at: Instant::now(),
                    failures: 0,
                    last_error: None,
                },
            ) {
                State::Up(broker) => Some(broker),
                other => {
                    *state = other;
                    None
                }
            }
        };
        if let Some(broker) = up {
            broker.close(reason).await;
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The one attempt in flight: its outcome becomes the state.
    async fn open(self: Arc<Self>, failures: u32) {
        let opened = self.nodes.open(self.names.clone(), &self.role).await;
        let next = match opened {
            Ok(broker) => State::Up(Arc::new(broker)),
            Err(e) => {
                let failures = failures.saturating_add(1);
                let wait = retry_delay(failures, rand::random_range(0.0..1.0));
                tracing::warn!(error = %e, failures, retry_in_ms = wait.as_millis() as u64,
                    role = %self.role, "cannot reach RabbitMQ; the next attempt waits");
                State::Down {
                    retry_at: Instant::now() + wait,
                    failures,
                    last_error: Some(e.to_string()),
                }
            }
        };
        *self.lock() = next;
        self.changed.notify_waiters();
    }
}

/// The wait after the `failures`-th failed attempt in a row: doubling from
/// [`FIRST_RETRY`] to [`LONGEST_RETRY`], and `jitter` (0 to 1) takes off up
/// to half of it, so that a fleet that lost the broker together does not
/// come back in step.
pub fn retry_delay(failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let full = FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY);
    full.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_the_cap_and_jitter_takes_off_at_most_half() {
        assert_eq!(retry_delay(1, 0.0), FIRST_RETRY);
        assert_eq!(retry_delay(2, 0.0), FIRST_RETRY * 2);
        assert_eq!(retry_delay(3, 0.0), FIRST_RETRY * 4);
        assert_eq!(retry_delay(10, 0.0), LONGEST_RETRY);
        assert_eq!(retry_delay(u32::MAX, 0.0), LONGEST_RETRY);
        assert_eq!(retry_delay(1, 1.0), FIRST_RETRY / 2);
        assert_eq!(retry_delay(10, 1.0), LONGEST_RETRY / 2);
        assert_eq!(retry_delay(10, 7.0), LONGEST_RETRY / 2, "jitter is clamped");
    }

    #[tokio::test]
    async fn a_failed_attempt_is_reported_and_callers_are_told_when_the_next_is_due() {
        // Nothing listens on port 1 of the loopback: the attempt fails at once.
        let link = Link::new("amqp://127.0.0.1:1/%2f", Names::new("t."), "test");
        let started = std::time::Instant::now();
        match link.broker(Duration::from_millis(100)).await {
            Err(QueueError::Unavailable { retry_after, cause }) => {
                assert!(retry_after <= FIRST_RETRY, "{retry_after:?}");
                assert!(cause.contains("127.0.0.1:1"), "{cause}");
            }
            Err(other) => panic!("expected Unavailable, got {other}"),
            Ok(_) => panic!("nothing listens there"),
        }
        // Within the backoff nobody starts another attempt: a caller that
        // may wait past the next one's time waits for it, one that may not
        // is told at once.
        match link.broker(Duration::from_millis(100)).await {
            Err(QueueError::Unavailable { retry_after, .. }) => {
                assert!(retry_after <= FIRST_RETRY, "{retry_after:?}")
            }
            Err(other) => panic!("expected Unavailable, got {other}"),
            Ok(_) => panic!("nothing listens there"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
