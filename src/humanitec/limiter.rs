//! Adaptive write concurrency per Humanitec connection (per API token),
//! shared by every job of that connection in the process: additive increase
//! while answers are fast and clean (after a slow start), halve on 429/503
//! or timeouts, back off when latency climbs well above the best seen. The
//! state machine is pure (`Window`); `Limiter` adds waiting and locking.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Notify;

/// How one request ended, as congestion control sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Answered (any status that says nothing about load).
    Ok(Duration),
    /// 429, 503 or a timeout: the server is overloaded.
    Congested,
}

/// The congestion window (pure).
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    limit: f64,
    cap: f64,
    /// Slow start (doubling per round trip) below this; additive above.
    threshold: f64,
    best_latency: Option<Duration>,
    last_decrease: Option<Instant>,
    /// The limit at which Humanitec last said "too much", and when: growth
    /// stays below it for a while instead of hitting it again every cycle.
    ceiling: Option<(f64, Instant)>,
}

/// Latency this many times the best seen counts as queueing.
const LATENCY_FACTOR: u32 = 3;
/// After a 429/503, growth stops at this share of the limit that caused it...
const CEILING_SHARE: f64 = 0.85;
/// ...for this long; then the window probes upwards again.
const CEILING_FOR: Duration = Duration::from_secs(30);

impl Window {
    pub fn new(initial: usize, cap: usize) -> Window {
        let cap = cap.max(1) as f64;
        Window {
            limit: (initial.max(1) as f64).min(cap),
            cap,
            threshold: cap,
            best_latency: None,
            last_decrease: None,
            ceiling: None,
        }
    }

    /// Requests allowed in flight now.
    pub fn allowed(&self) -> usize {
        self.limit.floor().max(1.0) as usize
    }

    pub fn limit(&self) -> f64 {
        self.limit
    }

    pub fn observe(&mut self, signal: Signal, now: Instant) {
        match signal {
            Signal::Congested => {
                if self.decrease(0.5, now) {
                    let hit = self.limit * 2.0;
                    self.ceiling = Some((hit * CEILING_SHARE, now));
                }
            }
            Signal::Ok(latency) => {
                let best = *self.best_latency.get_or_insert(latency);
                if latency < best {
                    self.best_latency = Some(latency);
                }
                if latency > best * LATENCY_FACTOR && best > Duration::ZERO {
                    self.decrease(0.8, now);
                    return;
                }
                let step = if self.limit < self.threshold {
                    1.0
                } else {
                    1.0 / self.limit
                };
                let top = match self.ceiling {
                    Some((ceiling, at)) if now.duration_since(at) < CEILING_FOR => {
                        self.cap.min(ceiling.max(1.0))
                    }
                    _ => self.cap,
                };
                self.limit = (self.limit + step).min(top.max(self.limit));
            }
        }
    }

    /// At most one decrease per round trip: the answers of one burst all
    /// say the same thing.
    fn decrease(&mut self, factor: f64, now: Instant) -> bool {
        let round_trip = self.best_latency.unwrap_or(Duration::from_millis(100));
        if self
            .last_decrease
            .is_some_and(|at| now.duration_since(at) < round_trip)
        {
            return false;
        }
        self.limit = (self.limit * factor).max(1.0);
        self.threshold = self.limit;
        self.last_decrease = Some(now);
        true
    }
}

/// One connection's limit, with waiting.
pub struct Limiter {
    state: Mutex<(Window, usize)>,
    adaptive: bool,
    freed: Notify,
}

/// A slot for one request; give it back with `done`.
pub struct Permit<'a> {
    limiter: &'a Limiter,
    started: Instant,
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
                    return Permit {
                        limiter: self,
                        started: Instant::now(),
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

    fn release(&self, signal: Option<Signal>) {
        {
            let mut state = self.lock();
            state.1 = state.1.saturating_sub(1);
            if let Some(signal) = signal.filter(|_| self.adaptive) {
                state.0.observe(signal, Instant::now());
            }
        }
        self.freed.notify_waiters();
    }
}

impl Permit<'_> {
    /// Gives the slot back, telling how the request went (`None`: it says
    /// nothing about load, e.g. a 404).
    pub fn done(mut self, congested: Option<bool>) {
        self.done = true;
        let signal = congested.map(|c| {
            if c {
                Signal::Congested
            } else {
                Signal::Ok(self.started.elapsed())
            }
        });
        self.limiter.release(signal);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.limiter.release(None);
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

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn slow_start_doubles_per_round_trip_then_grows_by_one() {
        let mut w = Window::new(4, 64);
        let t = Instant::now();
        for _ in 0..4 {
            w.observe(Signal::Ok(50 * MS), t);
        }
        assert_eq!(w.allowed(), 8, "one round trip of 4 answers doubles");
        w.observe(Signal::Congested, t);
        assert_eq!(w.allowed(), 4);
        let later = t + 200 * MS;
        for _ in 0..4 {
            w.observe(Signal::Ok(50 * MS), later);
        }
        assert_eq!(w.allowed(), 4, "after a loss, about +1 per round trip");
        for _ in 0..4 {
            w.observe(Signal::Ok(50 * MS), later);
        }
        assert_eq!(w.allowed(), 5);
    }

    #[test]
    fn congestion_halves_once_per_round_trip_and_never_below_one() {
        let mut w = Window::new(32, 32);
        let t = Instant::now();
        w.observe(Signal::Ok(50 * MS), t);
        w.observe(Signal::Congested, t);
        w.observe(Signal::Congested, t + MS);
        assert_eq!(w.allowed(), 16, "a burst of 429s is one signal");
        for i in 1..20 {
            w.observe(Signal::Congested, t + i * 100 * MS);
        }
        assert_eq!(w.allowed(), 1);
    }

    #[test]
    fn after_a_rejection_growth_stays_below_where_it_hurt() {
        let mut w = Window::new(8, 64);
        let t = Instant::now();
        w.observe(Signal::Ok(10 * MS), t);
        w.observe(Signal::Congested, t);
        let after = t + 20 * MS;
        for _ in 0..500 {
            w.observe(Signal::Ok(10 * MS), after);
        }
        assert!(w.limit() < 9.0 * CEILING_SHARE + 0.01, "{}", w.limit());
        let much_later = t + CEILING_FOR + MS;
        for _ in 0..500 {
            w.observe(Signal::Ok(10 * MS), much_later);
        }
        assert!(w.limit() > 9.0, "probes again later: {}", w.limit());
    }

    #[test]
    fn rising_latency_backs_off_and_the_cap_holds() {
        let mut w = Window::new(10, 12);
        let t = Instant::now();
        w.observe(Signal::Ok(10 * MS), t);
        assert_eq!(w.allowed(), 11);
        w.observe(Signal::Ok(10 * MS), t);
        w.observe(Signal::Ok(10 * MS), t);
        assert_eq!(w.allowed(), 12, "capped");
        w.observe(Signal::Ok(100 * MS), t + 50 * MS);
        assert_eq!(w.allowed(), 9, "queueing shows as latency");
    }

    #[tokio::test]
    async fn permits_wait_for_a_free_slot() {
        let limiter = Limiter::new(Window::new(1, 1), true);
        let first = limiter.acquire().await;
        let second = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(second.is_err(), "the one slot is taken");
        first.done(Some(false));
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
        assert!(third.is_ok(), "freed");
    }
}
