//! Adaptive write concurrency per Humanitec connection (per API token),
//! shared by every job of that connection in the process. The window itself
//! is pure (`super::window`); `Limiter` adds waiting, locking and the clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use super::window::Outcome;
use super::window::{Ticket, Window};

use sha2::{Digest, Sha256};
use tokio::sync::Notify;

/// One connection's limit, with waiting.
pub struct Limiter {
    state: Mutex<(Window, usize)>,
    adaptive: bool,
    freed: Notify,
}

/// A slot for one request; give it back with `done`.
pub struct Permit<'a> {
    limiter: &'a Limiter,
    ticket: Ticket,
    done: bool,
}

impl Limiter {
    pub fn new(window: Window, adaptive: bool) -> Limiter {
        Limiter {
            state: Mutex::new((window, 0)),
            adaptive,
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (Window, usize)> {
        // A poisoned lock only means a holder panicked; the numbers stand.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            {
                let mut state = self.lock();
                if state.1 < state.0.allowed() {
                    state.1 += 1;
                    let in_flight = state.1;
                    let ticket = state.0.send(in_flight);
                    return Permit {
                        limiter: self,
                        ticket,
                        done: false,
                    };
                }
            }
            freed.await;
        }
    }

    pub fn limit(&self) -> f64 {
        self.lock().0.limit()
    }

    fn release(&self, ticket: Ticket, round_trip: Duration, outcome: Outcome) {
        {
            let mut state = self.lock();
            state.1 = state.1.saturating_sub(1);
            if self.adaptive {
                state.0.observe(ticket, round_trip, outcome, Instant::now());
            }
        }
        self.freed.notify_waiters();
    }
}

impl Permit<'_> {
    /// Gives the slot back, telling how the request went and how long it
    /// spent on the wire (from sending to the answer, not counting the wait
    /// for this permit).
    pub fn done(mut self, outcome: Outcome, round_trip: Duration) {
        self.done = true;
        self.limiter.release(self.ticket, round_trip, outcome);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.limiter
                .release(self.ticket, Duration::ZERO, Outcome::Unknown);
        }
    }
}

/// How writes are limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteLimit {
    /// Most writes in flight per connection.
    pub cap: usize,
    /// Adapt between 1 and `cap`, starting at `initial`; else always `cap`.
    pub adaptive: bool,
    pub initial: usize,
}

/// The limiters of every connection the process talks to, keyed by a hash
/// of the token (kept in memory only).
pub struct Limiters {
    config: WriteLimit,
    by_token: Mutex<HashMap<[u8; 32], Arc<Limiter>>>,
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiters")
            .field("config", &self.config)
            .field("current", &self.current())
            .finish()
    }
}

impl Limiters {
    pub fn new(config: WriteLimit) -> Limiters {
        Limiters {
            config,
            by_token: Mutex::new(HashMap::new()),
        }
    }

    pub fn for_token(&self, token: &str) -> Arc<Limiter> {
        let id: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id)
            .or_insert_with(|| {
                let initial = if self.config.adaptive {
                    self.config.initial
                } else {
                    self.config.cap
                };
                let window = Window::new(initial, self.config.cap);
                Arc::new(Limiter::new(window, self.config.adaptive))
            })
            .clone()
    }

    /// Whether limits move at all.
    pub fn adaptive(&self) -> bool {
        self.config.adaptive
    }

    /// The current limit of each connection seen.
    pub fn current(&self) -> Vec<f64> {
        let map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.values().map(|l| l.limit()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn permits_wait_for_a_free_slot() {
        let limiter = Limiter::new(Window::new(1, 1), true);
        let first = limiter.acquire().await;
        let second = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(second.is_err(), "the one slot is taken");
        first.done(Outcome::Answered, Duration::from_millis(5));
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(third.is_ok(), "freed");
    }

    #[tokio::test]
    async fn one_connection_shares_one_limit_across_callers() {
        let limits = Limiters::new(WriteLimit {
            cap: 2,
            adaptive: false,
            initial: 2,
        });
        let a = limits.for_token("token-a");
        let again = limits.for_token("token-a");
        let other = limits.for_token("token-b");
        let _one = a.acquire().await;
        let _two = again.acquire().await;
        let third = tokio::time::timeout(Duration::from_millis(50), a.acquire()).await;
        assert!(third.is_err(), "both callers draw on the same two slots");
        let elsewhere = tokio::time::timeout(Duration::from_millis(50), other.acquire()).await;
        assert!(elsewhere.is_ok(), "another token has its own");
    }
}
