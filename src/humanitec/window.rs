//! The congestion window of one Humanitec connection: how many writes may be
//! in flight. Pure: no clock, no I/O; every time is passed in.
//!
//! The design follows BBR more than Vegas or Netflix's gradient2: it judges
//! a window by the throughput it delivered, not by how latency moved.
//!
//! - A window's throughput is Little's law on the wire: the requests it had
//!   in flight over their mean round trip (time on the wire, not time spent
//!   waiting for a permit), from the answers to requests sent under it.
//! - **Startup**: the window doubles once a window's worth of its requests
//!   has come back, as long as throughput keeps growing (by at least a
//!   quarter of the window's growth). Two windows that did not pay for
//!   themselves end it: the window returns to the **knee**, the largest
//!   window whose growth still paid.
//! - **Steady**: the window stays at the knee; every few windows it probes
//!   a quarter higher and keeps the probe only if throughput grew with it.
//! - Latency alone never lowers the window: rising but productive latency
//!   is what a busy server looks like, and one slow answer moves the mean
//!   of a window by one sample. So without a 429, 503 or timeout the window
//!   never falls below the knee, nor below where it started.
//! - A 429, 503 or timeout halves the window, once per window (the answers
//!   of requests sent before the cut say nothing new), and caps growth at
//!   85% of where it hurt for a while, so a rate-limited connection settles
//!   below the server's limit instead of hitting it every few round trips.
//!   Failures that follow within the same episode (an outage) halve again
//!   but do not lower that ceiling: after the outage the window doubles
//!   back to it.

use std::time::{Duration, Instant};

/// How a request ended, as the window sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered, with a round trip worth measuring.
    Answered,
    /// 429, 503 or a timeout: the server is overloaded.
    Congested,
    /// Says nothing about load (an error status other than 429/503, a broken
    /// connection).
    Unknown,
}

/// What the window needs to know about a request when it comes back; taken
/// when it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    epoch: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Doubling while throughput grows; `stalls` windows in a row did not.
    Startup { stalls: u8 },
    /// At the knee for `windows` windows.
    Steady { windows: u8 },
    /// One window above the knee.
    Probe,
}

/// The congestion window (pure).
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    limit: usize,
    cap: usize,
    /// The lowest the window goes without an overload signal.
    knee: usize,
    phase: Phase,
    /// Bumped whenever the limit changes: samples are judged against the
    /// window they were sent under.
    epoch: u64,
    /// The epoch that began with the last cut: overload answers to requests
    /// sent before it were already acted on.
    cut_epoch: u64,
    /// Answers to requests sent under the current limit, and their time on
    /// the wire in seconds.
    samples: usize,
    rtt_sum: f64,
    /// The most requests in flight when one was sent under this limit.
    max_in_flight: usize,
    /// The last judged window and its rate (requests per second).
    baseline: Option<(usize, f64)>,
    /// Growth stays at or below this until the instant.
    ceiling: Option<(usize, Instant)>,
    /// Within an overload episode (no clean window since the last cut).
    congested: bool,
}

/// Throughput must grow by this share of the window's growth for the
/// growth to count (doubling: +25%; a probe of +25%: about +6%).
const PAYOFF: f64 = 0.25;
/// Windows in Startup that do not pay before returning to the knee.
const STALLS: u8 = 2;
/// Windows at the knee between probes.
const PROBE_EVERY: u8 = 2;
/// A probe tries this much above the knee (at least one more).
const PROBE_GAIN: f64 = 1.25;
/// After an overload signal, growth stops at this share of the window
/// that drew it...
const CEILING_SHARE: f64 = 0.85;
/// ...for this long; then the window probes upwards again.
pub const CEILING_FOR: Duration = Duration::from_secs(30);

impl Window {
    /// A window starting at `initial` (never below it without an overload
    /// signal), at most `cap`.
    pub fn new(initial: usize, cap: usize) -> Window {
        let cap = cap.max(1);
        let initial = initial.clamp(1, cap);
        Window {
            limit: initial,
            cap,
            knee: initial,
            phase: Phase::Startup { stalls: 0 },
            epoch: 0,
            cut_epoch: 0,
            samples: 0,
            rtt_sum: 0.0,
            max_in_flight: 0,
            baseline: None,
            ceiling: None,
            congested: false,
        }
    }

    /// Requests allowed in flight now.
    pub fn allowed(&self) -> usize {
        self.limit
    }

    pub fn limit(&self) -> f64 {
        self.limit as f64
    }

    /// The window it never falls below without an overload signal.
    pub fn knee(&self) -> usize {
        self.knee
    }

    /// A request goes on the wire with `in_flight` requests in flight,
    /// itself included.
    pub fn send(&mut self, in_flight: usize) -> Ticket {
        self.max_in_flight = self.max_in_flight.max(in_flight);
        Ticket { epoch: self.epoch }
    }

    /// A request came back after `round_trip` on the wire, at `now`.
    pub fn observe(
        &mut self,
        ticket: Ticket,
        round_trip: Duration,
        outcome: Outcome,
        now: Instant,
    ) {
        match outcome {
            Outcome::Unknown => {}
            Outcome::Congested => {
                if ticket.epoch >= self.cut_epoch {
                    self.cut(now);
                }
            }
            Outcome::Answered => {
                if ticket.epoch != self.epoch {
                    return;
                }
                self.samples += 1;
                self.rtt_sum += round_trip.as_secs_f64();
                if self.samples >= (self.limit / 2).max(2).min(self.limit) {
                    self.judge(now);
                }
            }
        }
    }

    fn top(&self, now: Instant) -> usize {
        match self.ceiling {
            Some((ceiling, until)) if now < until => ceiling.clamp(1, self.cap),
            _ => self.cap,
        }
    }

    fn set(&mut self, limit: usize) {
        self.limit = limit.clamp(1, self.cap);
        self.epoch += 1;
        self.samples = 0;
        self.rtt_sum = 0.0;
        self.max_in_flight = 0;
    }

    fn cut(&mut self, now: Instant) {
        if !self.congested {
            let at = ((self.limit as f64 * CEILING_SHARE).floor() as usize).max(1);
            self.ceiling = Some((at, now + CEILING_FOR));
            self.congested = true;
        }
        if self.limit == 1 {
            // Failing with one request in flight: the server is down, not
            // busy. The window doubles back to where it was once it answers.
            self.ceiling = None;
        }
        let halved = (self.limit / 2).max(1);
        self.knee = halved;
        self.baseline = None;
        self.phase = Phase::Startup { stalls: 0 };
        self.set(halved);
        self.cut_epoch = self.epoch;
    }

    /// A window's worth of answers to requests sent under the current limit.
    fn judge(&mut self, now: Instant) {
        // Little's law: what was in flight over how long each took.
        let mean_rtt = (self.rtt_sum / self.samples as f64).max(1e-6);
        let rate = self.max_in_flight as f64 / mean_rtt;
        let limit = self.limit;
        self.congested = false;
        if self.max_in_flight < limit {
            // The load never filled the window: nothing learnt about it.
            // A probe the load cannot fill is dropped.
            if self.phase == Phase::Probe {
                self.phase = Phase::Steady { windows: 0 };
                self.set(self.knee);
            } else {
                self.set(limit);
            }
            return;
        }
        let paid = match self.baseline {
            None => true,
            Some((base_limit, base_rate)) => {
                let grew = limit as f64 / base_limit as f64 - 1.0;
                grew <= 0.0 || rate >= base_rate * (1.0 + PAYOFF * grew)
            }
        };
        let top = self.top(now);
        match self.phase {
            Phase::Startup { stalls } => {
                if paid {
                    self.knee = self.knee.max(limit);
                    self.baseline = Some((limit, rate));
                    let next = (limit * 2).min(top);
                    if next <= limit {
                        self.phase = Phase::Steady { windows: 0 };
                        self.set(limit);
                    } else {
                        self.phase = Phase::Startup { stalls: 0 };
                        self.set(next);
                    }
                } else if stalls + 1 >= STALLS {
                    self.phase = Phase::Steady { windows: 0 };
                    self.baseline = None;
                    self.set(self.knee);
                } else {
                    // Measure once more before giving up on this window.
                    self.phase = Phase::Startup { stalls: stalls + 1 };
                    self.set(limit);
                }
            }
            Phase::Steady { windows } => {
                self.baseline = Some((limit, rate));
                let probe = ((limit as f64 * PROBE_GAIN).ceil() as usize)
                    .max(limit + 1)
                    .min(top);
                if windows + 1 >= PROBE_EVERY && probe > limit {
                    self.phase = Phase::Probe;
                    self.set(probe);
                } else {
                    self.phase = Phase::Steady {
                        windows: windows.saturating_add(1),
                    };
                    self.set(limit);
                }
            }
            Phase::Probe => {
                if paid {
                    self.knee = self.knee.max(limit);
                    self.baseline = Some((limit, rate));
                    // Room above: grow as fast as at the start.
                    self.phase = Phase::Startup { stalls: 0 };
                    let next = (limit * 2).min(top);
                    self.set(next.max(limit));
                } else {
                    self.phase = Phase::Steady { windows: 0 };
                    self.set(self.knee);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Answers a full window's worth of requests at `latency` each.
    fn answer_window(w: &mut Window, latency: Duration, now: Instant) {
        let limit = w.allowed();
        let tickets: Vec<Ticket> = (1..=limit).map(|n| w.send(n)).collect();
        for t in tickets {
            w.observe(t, latency, Outcome::Answered, now);
        }
    }

    #[test]
    fn startup_doubles_while_throughput_grows_up_to_the_cap() {
        let mut w = Window::new(4, 32);
        let t = Instant::now();
        let mut seen = vec![w.allowed()];
        for _ in 0..4 {
            answer_window(&mut w, 50 * MS, t);
            seen.push(w.allowed());
        }
        assert_eq!(seen, vec![4, 8, 16, 32, 32]);
        assert_eq!(w.knee(), 32);
    }

    #[test]
    fn stops_at_the_knee_where_throughput_stops_growing() {
        // A server that serves 12 at once and queues the rest: latency
        // grows in proportion above 12, throughput is flat.
        let latency = |n: usize| 50 * MS * (n.max(12) as u32) / 12;
        let mut w = Window::new(4, 64);
        let t = Instant::now();
        for _ in 0..30 {
            let n = w.allowed();
            answer_window(&mut w, latency(n), t);
        }
        assert!(w.knee() >= 8 && w.knee() <= 16, "knee {}", w.knee());
        assert!(w.allowed() <= 20, "stays near the knee: {}", w.allowed());
        assert!(w.allowed() >= w.knee());
    }

    #[test]
    fn rising_but_productive_latency_keeps_growing() {
        // 50 ms plus 2 ms per request in flight: throughput keeps growing.
        let mut w = Window::new(4, 32);
        let t = Instant::now();
        for _ in 0..10 {
            let n = w.allowed() as u32;
            answer_window(&mut w, 50 * MS + 2 * MS * n, t);
        }
        assert_eq!(w.allowed(), 32);
    }

    #[test]
    fn one_slow_answer_does_not_lower_it() {
        let mut w = Window::new(16, 16);
        let t = Instant::now();
        answer_window(&mut w, 50 * MS, t);
        let ticket = w.send(16);
        w.observe(ticket, 5000 * MS, Outcome::Answered, t);
        for _ in 0..5 {
            answer_window(&mut w, 50 * MS, t);
        }
        assert_eq!(w.allowed(), 16);
    }

    #[test]
    fn latency_alone_never_takes_it_below_the_start_or_the_knee() {
        let mut w = Window::new(4, 64);
        let t = Instant::now();
        for _ in 0..3 {
            answer_window(&mut w, 50 * MS, t);
        }
        let knee = w.knee();
        assert!(knee >= 16);
        for i in 1..40u32 {
            answer_window(&mut w, 50 * MS * i, t);
            assert!(w.allowed() >= knee, "{} < {knee}", w.allowed());
        }
    }

    #[test]
    fn overload_halves_once_per_window_and_never_below_one() {
        let mut w = Window::new(32, 32);
        let t = Instant::now();
        let before = w.send(32);
        w.observe(before, 50 * MS, Outcome::Congested, t);
        w.observe(before, 50 * MS, Outcome::Congested, t);
        assert_eq!(w.allowed(), 16, "a burst of 429s is one signal");
        for _ in 0..10 {
            let sent_after = w.send(1);
            w.observe(sent_after, 50 * MS, Outcome::Congested, t);
        }
        assert_eq!(w.allowed(), 1);
    }

    #[test]
    fn after_overload_growth_stays_below_where_it_hurt_then_probes_again() {
        let mut w = Window::new(20, 64);
        let t = Instant::now();
        let ticket = w.send(20);
        w.observe(ticket, 50 * MS, Outcome::Congested, t);
        assert_eq!(w.allowed(), 10);
        for _ in 0..20 {
            answer_window(&mut w, 50 * MS, t + MS);
        }
        assert_eq!(w.allowed(), 17, "85% of 20");
        for _ in 0..20 {
            answer_window(&mut w, 50 * MS, t + CEILING_FOR + MS);
        }
        assert_eq!(w.allowed(), 64, "grows again once the ceiling lapses");
    }

    #[test]
    fn an_outage_halves_to_one_then_it_doubles_back() {
        let mut w = Window::new(32, 32);
        let t = Instant::now();
        for _ in 0..8 {
            let n = w.allowed();
            let ticket = w.send(n);
            w.observe(ticket, 50 * MS, Outcome::Congested, t);
        }
        assert_eq!(w.allowed(), 1);
        for _ in 0..8 {
            answer_window(&mut w, 50 * MS, t + MS);
        }
        assert_eq!(
            w.allowed(),
            32,
            "failing at one in flight is an outage, not load: no ceiling"
        );
    }

    #[test]
    fn a_load_that_does_not_fill_the_window_teaches_nothing() {
        let mut w = Window::new(8, 32);
        let t = Instant::now();
        for _ in 0..10 {
            for _ in 0..8 {
                let ticket = w.send(3);
                w.observe(ticket, 50 * MS, Outcome::Answered, t);
            }
        }
        assert_eq!(w.allowed(), 8);
    }
}
