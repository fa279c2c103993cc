//! Adaptive write concurrency per Humanitec connection (per API token),
//! shared by every job of that connection in the process. The window itself
//! is pure (`super::window`); `Limiter` adds waiting, locking and the clock.
//! The fleet's other processes writing with the same token come in through
//! [`Limiters::share`] (`engine::maintenance::fleet` reads them from
//! Postgres).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use super::window::Outcome;
use super::window::{Ticket, Window};

use sha2::{Digest, Sha256};
use tokio::sync::Notify;

/// One connection's limit, with waiting.
pub struct Limiter {
    state: Mutex<State>,
    adaptive: bool,
    freed: Notify,
}

struct State {
    window: Window,
    in_flight: usize,
    /// When the last write was sent: a limiter used lately is a writer the
    /// fleet counts.
    last_sent: Option<Instant>,
}

/// A slot for one request; give it back with `done` (dropped, it is given
/// back without a verdict).
pub struct Permit<'a> {
    limiter: &'a Limiter,
    ticket: Ticket,
    observed: bool,
}

impl Limiter {
    pub fn new(window: Window, adaptive: bool) -> Limiter {
        Limiter {
            state: Mutex::new(State {
                window,
                in_flight: 0,
                last_sent: None,
            }),
            adaptive,
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a holder panicked; the numbers stand.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            {
                let mut state = self.lock();
                if state.in_flight < state.window.allowed() {
                    state.in_flight += 1;
                    state.last_sent = Some(Instant::now());
                    let in_flight = state.in_flight;
                    let ticket = state.window.send(in_flight);
                    return Permit {
                        limiter: self,
                        ticket,
                        observed: false,
                    };
                }
            }
            freed.await;
        }
    }

    pub fn limit(&self) -> f64 {
        self.lock().window.limit()
    }

    /// Whether the limit moves with how the server answers.
    pub fn adaptive(&self) -> bool {
        self.adaptive
    }

    /// What the fleet sees of this writer, while it writes: a write in
    /// flight (or holding its slot after a refusal), or one sent within
    /// `quiet`. Past that it has stopped, and the others take over its
    /// share at once rather than when its reports expire.
    fn activity(&self, quiet: Duration) -> Option<(usize, bool)> {
        let state = self.lock();
        let recent = state.last_sent.is_some_and(|at| at.elapsed() <= quiet);
        (state.in_flight > 0 || recent).then(|| (state.window.allowed(), state.window.avoiding()))
    }

    /// The fleet's other writers of this token, as last read.
    fn share(&self, fleet: Option<FleetShare>) {
        let mut state = self.lock();
        state
            .window
            .set_writers(fleet.map_or(1, |f| f.others.saturating_add(1)));
        if let Some(f) = fleet.filter(|f| f.others > 0) {
            if f.avoiding {
                state.window.fleet_met_limit();
            }
            let sum = f.others_limit + state.window.allowed();
            state.window.even_out(sum as f64 / (f.others + 1) as f64);
        }
    }

    /// Tells the window how a request went; how long its slot stays taken
    /// after that (a refusal's hold, see `Window::hold_after_refusal`).
    fn observe(&self, ticket: Ticket, round_trip: Duration, outcome: Outcome) -> Duration {
        let mut state = self.lock();
        if !self.adaptive {
            return Duration::ZERO;
        }
        state.window.observe(ticket, round_trip, outcome);
        match outcome {
            Outcome::Congested => state.window.hold_after_refusal(),
            Outcome::Answered | Outcome::Unknown => Duration::ZERO,
        }
    }

    fn free(&self) {
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        self.freed.notify_waiters();
    }
}

impl Permit<'_> {
    /// Gives the slot back, telling how the request went and how long it
    /// spent on the wire (from sending to the answer, not counting the wait
    /// for this permit). A refused request keeps its slot a round trip
    /// longer, so this waits that long.
    pub async fn done(mut self, outcome: Outcome, round_trip: Duration) {
        self.observed = true;
        let hold = self.limiter.observe(self.ticket, round_trip, outcome);
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.observed {
            self.limiter
                .observe(self.ticket, Duration::ZERO, Outcome::Unknown);
        }
        self.limiter.free();
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

/// A token's writers elsewhere in the fleet (other processes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetShare {
    /// Other processes that wrote with the token lately.
    pub others: usize,
    /// The sum of their windows.
    pub others_limit: usize,
    /// Whether any of them met the server's limit (and grows additively).
    pub avoiding: bool,
}

/// What this process reports to the fleet about one token it writes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writing {
    /// The token's hash (the in-memory key; never the token).
    pub token_hash: [u8; 32],
    pub limit: usize,
    pub avoiding: bool,
}

/// The limiters of every connection the process talks to, keyed by a hash
/// of the token (kept in memory only).
pub struct Limiters {
    config: WriteLimit,
    by_token: Mutex<HashMap<[u8; 32], Arc<Limiter>>>,
    /// The fleet's other writers per token hash, as last read: a limiter
    /// made later starts from them.
    fleet: Mutex<HashMap<[u8; 32], FleetShare>>,
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
            fleet: Mutex::new(HashMap::new()),
        }
    }

    pub fn for_token(&self, token: &str) -> Arc<Limiter> {
        let id: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let fleet = self.fleet_of(&id);
        let mut map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id)
            .or_insert_with(|| {
                let initial = if self.config.adaptive {
                    self.config.initial
                } else {
                    self.config.cap
                };
                let mut window = Window::new(initial, self.config.cap);
                if let Some(f) = fleet.filter(|f| f.others > 0) {
                    // Joining a fleet that writes with this token: an equal
                    // share of what it holds, rather than a doubling into
                    // a limit it already found.
                    window.set_writers(f.others + 1);
                    if f.avoiding {
                        window.join_at(f.others_limit / (f.others + 1));
                    }
                }
                Arc::new(Limiter::new(window, self.config.adaptive))
            })
            .clone()
    }

    fn fleet_of(&self, id: &[u8; 32]) -> Option<FleetShare> {
        let fleet = self.fleet.lock().unwrap_or_else(|p| p.into_inner());
        fleet.get(id).copied()
    }

    /// The tokens this process writes with now (a write in flight, or
    /// one sent within `quiet`): what it reports to the fleet.
    pub fn writing(&self, quiet: Duration) -> Vec<Writing> {
        let map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter_map(|(id, l)| {
                let (limit, avoiding) = l.activity(quiet)?;
                Some(Writing {
                    token_hash: *id,
                    limit,
                    avoiding,
                })
            })
            .collect()
    }

    /// The fleet's other writers, by token hash, as just read: every
    /// limiter learns how many write with its token (one, when none is
    /// listed).
    pub fn share(&self, fleet: HashMap<[u8; 32], FleetShare>) {
        {
            let map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
            for (id, limiter) in map.iter() {
                limiter.share(fleet.get(id).copied());
            }
        }
        *self.fleet.lock().unwrap_or_else(|p| p.into_inner()) = fleet;
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
        first
            .done(Outcome::Answered, Duration::from_millis(5))
            .await;
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

#[cfg(test)]
mod fleet_tests {
    use super::*;

    fn hash(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    #[tokio::test]
    async fn a_limiter_made_after_the_fleet_was_read_joins_at_its_share() {
        let limits = Limiters::new(WriteLimit {
            cap: 32,
            adaptive: true,
            initial: 4,
        });
        let share = FleetShare {
            others: 2,
            others_limit: 24,
            avoiding: true,
        };
        limits.share(HashMap::from([(hash("token-a"), share)]));
        assert_eq!(limits.for_token("token-a").limit(), 8.0, "24 / 3");
        assert_eq!(
            limits.for_token("token-b").limit(),
            4.0,
            "no one else writes"
        );
    }

    #[tokio::test]
    async fn only_tokens_written_with_lately_are_reported() {
        let limits = Limiters::new(WriteLimit {
            cap: 32,
            adaptive: true,
            initial: 4,
        });
        let a = limits.for_token("token-a");
        let _idle = limits.for_token("token-b");
        a.acquire()
            .await
            .done(Outcome::Answered, Duration::from_millis(5))
            .await;
        let writing = limits.writing(Duration::from_secs(2));
        assert_eq!(
            writing,
            vec![Writing {
                token_hash: hash("token-a"),
                limit: 4,
                avoiding: false,
            }]
        );
    }
}
