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
//! - A 429, 503 or timeout cuts the window to 70%, once per window (the
//!   answers of requests sent before the cut say nothing new), and from
//!   then on it grows **additively** (congestion avoidance, as TCP after a
//!   loss): no freeze, so it is back at the server's limit within a few
//!   round trips once the 429s stop.
//! - **A fleet shares one budget.** Every process writing with the same
//!   token tells the others through Postgres (`engine::maintenance::fleet`)
//!   and each window learns how many write now (`set_writers`). Each takes
//!   `1/writers` of the additive step, so the fleet as a whole grows as one
//!   process would: the overshoot past the server's limit, and with it the
//!   429s, stays that of one process however many share the token, and
//!   additive increase with multiplicative decrease converges to equal
//!   shares (Chiu and Jain, 1989). A process that joins starts at its share
//!   of what the fleet found, not at its own first guess; one still in
//!   startup when another has met the limit stops growing by half
//!   (`fleet_met_limit`).
//! - Refused window after window, with no window answered between, is an
//!   outage, not load: the window doubles back once the server answers.
//! - A refused request keeps its slot for a round trip: a refusal comes
//!   back sooner than an answer, and a slot freed at once would send the
//!   next request into a server that is still full.
//! - The slot each additive step adds is tried by one request before the
//!   window uses it: a server that counts refusals in flight refuses all
//!   that arrive while one is on its way back.

use std::time::Duration;

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
    /// The request that tries a slot just added after an overload.
    probe: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Doubling while throughput grows; `stalls` windows in a row did not.
    Startup { stalls: u8 },
    /// After an overload signal: one step up per window, shared by the
    /// fleet's writers.
    Avoid,
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
    /// Within an overload episode (no clean window since the last cut).
    congested: bool,
    /// Cuts in this episode.
    episode_cuts: u8,
    /// Processes writing with this token now, this one included.
    writers: usize,
    /// Windows judged since the last additive step: the fleet's writers
    /// take turns, one step per `writers` windows.
    credit: usize,
    /// Where the slot the last additive step added stands: its first
    /// request goes alone, and until it is answered the window sends at
    /// most one less. A server that counts its 429s in flight (as an
    /// in-flight cap does) refuses every request that arrives while a
    /// refusal is on its way back; without this, each slot freed in that
    /// time would be refilled into another 429.
    probe: Probe,
    /// A smoothed round trip of answered requests, in seconds (0: none
    /// yet).
    smoothed_rtt: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    None,
    /// Added; its first request not sent yet.
    Ready,
    /// Its first request is on the wire.
    Sent,
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
/// An overload signal leaves this share of the window (CUBIC's beta: a
/// half wastes a quarter of the server's room on average, 70% about 15%).
const BACKOFF: f64 = 0.7;
/// Startup grows the window by half per window, not by double: processes
/// that start together overshoot the server's limit by at most half of it
/// before they learn of each other (doubling, three processes at 8 each
/// went from 24 to 48 against a limit of 24), at the cost of two more
/// windows to reach 32 from 4.
fn grown(limit: usize) -> usize {
    (limit + limit.div_ceil(2)).max(limit + 1)
}

/// Cuts in a row without an answered window between that make an outage.
const OUTAGE_CUTS: u8 = 3;

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
            congested: false,
            episode_cuts: 0,
            writers: 1,
            credit: 0,
            probe: Probe::None,
            smoothed_rtt: 0.0,
        }
    }

    /// How many processes write with this token now, this one included
    /// (at least one).
    ///
    /// Once the window has met the server's limit, writers that leave hand
    /// their shares to those left at once: a process that wrote beside two
    /// others is back at the whole limit in one step, not after a climb.
    /// Writers that join take their share from the next refusals (they
    /// join at it, `join_at`); the others do not shrink in advance, since
    /// processes that started together already share the limit when they
    /// first learn of each other.
    pub fn set_writers(&mut self, writers: usize) {
        let writers = writers.max(1);
        if writers < self.writers && self.phase == Phase::Avoid {
            let scaled = (self.limit * self.writers)
                .div_ceil(writers)
                .clamp(1, self.cap);
            self.knee = scaled;
            self.credit = 0;
            self.probe = Probe::None;
            self.set(scaled);
        }
        self.writers = writers;
    }

    /// Starts where the fleet already is: `share` in flight, growing
    /// additively (a process that joins a fleet which met the server's
    /// limit does not double its way into it again). Only before this
    /// window has learnt anything itself.
    pub fn join_at(&mut self, share: usize) {
        if self.epoch == 0 && self.phase == (Phase::Startup { stalls: 0 }) {
            let share = share.clamp(1, self.cap);
            self.knee = share;
            self.phase = Phase::Avoid;
            self.set(share);
        }
    }

    /// Another writer of this token met the server's limit: a window still
    /// in startup stops growing by half and climbs additively from where
    /// it is, as after a cut (the fleet is at the limit; growing by half
    /// into it only draws refusals). Processes that start together then
    /// overshoot once, not once each.
    pub fn fleet_met_limit(&mut self) {
        if matches!(self.phase, Phase::Startup { .. }) && self.epoch > 0 {
            self.phase = Phase::Avoid;
            self.knee = self.limit;
            self.credit = 0;
        }
    }

    /// The fleet's windows for this token average `mean` (this one's
    /// included): a window growing additively beside others moves half
    /// way to it. Additive increase with multiplicative decrease evens out
    /// shares only slowly (a 30% cut takes a little more from a bigger
    /// window), and until it does the process with the smallest share
    /// finishes last, on a budget sized for a fleet that has left. Every
    /// process moves by the same rule on the same reports, so the fleet's
    /// sum stays where it was. A difference under 1.5 is left to AIMD: each
    /// move starts a new window, and moving every round would leave no
    /// window judged.
    pub fn even_out(&mut self, mean: f64) {
        if self.phase != Phase::Avoid || self.writers < 2 {
            return;
        }
        let target = ((self.limit as f64 + mean) / 2.0).round() as usize;
        if (self.limit as f64 - mean).abs() >= 1.5 && target != self.limit {
            self.knee = target.clamp(1, self.cap);
            self.set(target);
        }
    }

    /// Whether the window has met an overload signal (and now grows
    /// additively): what a joining process should inherit.
    pub fn avoiding(&self) -> bool {
        self.phase == Phase::Avoid
    }

    /// How long a refused request keeps its slot after its answer: one
    /// round trip of the answered ones (TCP's smoothed RTT, bounded). A
    /// refusal comes back sooner than an answer, and a slot freed at once
    /// would send another request into a server that is still full: with
    /// several processes on one token, each refusal would draw the next.
    pub fn hold_after_refusal(&self) -> Duration {
        Duration::from_secs_f64(self.smoothed_rtt.clamp(0.0, 2.0))
    }

    fn smooth(&mut self, round_trip: Duration) {
        let rtt = round_trip.as_secs_f64();
        self.smoothed_rtt = if self.smoothed_rtt == 0.0 {
            rtt
        } else {
            0.875 * self.smoothed_rtt + 0.125 * rtt
        };
    }

    /// Requests allowed in flight now.
    pub fn allowed(&self) -> usize {
        match self.probe {
            Probe::Sent => self.limit - 1,
            Probe::None | Probe::Ready => self.limit,
        }
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
        let probe = self.probe == Probe::Ready && in_flight >= self.limit;
        if probe {
            self.probe = Probe::Sent;
        }
        Ticket {
            epoch: self.epoch,
            probe,
        }
    }

    /// A request came back after `round_trip` on the wire.
    pub fn observe(&mut self, ticket: Ticket, round_trip: Duration, outcome: Outcome) {
        if ticket.probe && self.probe == Probe::Sent {
            // Answered: the slot is the window's. Refused: the cut below.
            self.probe = Probe::None;
        }
        match outcome {
            Outcome::Unknown => {}
            Outcome::Congested => {
                if ticket.epoch >= self.cut_epoch {
                    self.cut();
                }
            }
            Outcome::Answered => {
                if ticket.epoch != self.epoch {
                    return;
                }
                self.samples += 1;
                self.rtt_sum += round_trip.as_secs_f64();
                self.smooth(round_trip);
                if self.samples >= (self.limit / 2).max(2).min(self.limit) {
                    self.judge();
                }
            }
        }
    }

    fn set(&mut self, limit: usize) {
        self.limit = limit.clamp(1, self.cap);
        self.epoch += 1;
        self.samples = 0;
        self.rtt_sum = 0.0;
        self.max_in_flight = 0;
    }

    fn cut(&mut self) {
        self.episode_cuts = match self.congested {
            true => self.episode_cuts.saturating_add(1),
            false => 1,
        };
        // Out of startup, the window overshot by up to a third: back to the
        // window before the last growth, which was answered (TCP's
        // slow-start exit). With several processes growing at once,
        // anything less leaves the fleet over the server's limit, and each
        // refusal draws another. Growing additively, it overshot by one
        // step.
        let share = match self.phase {
            Phase::Avoid => BACKOFF,
            Phase::Startup { .. } | Phase::Steady { .. } | Phase::Probe => 2.0 / 3.0,
        };
        let cut = ((self.limit as f64 * share).floor() as usize).max(1);
        // Refused window after window, not one answered between, and alone
        // on the token: the server is down, not busy at the margin. Once it
        // answers, the window doubles back instead of climbing a step at a
        // time. (Beside other writers the same can be a crowded token, and
        // the fleet's additive step is the safe way back.)
        let outage = self.episode_cuts >= OUTAGE_CUTS && self.writers == 1;
        self.congested = true;
        self.baseline = None;
        self.credit = 0;
        self.probe = Probe::None;
        self.knee = cut;
        self.phase = match outage {
            true => Phase::Startup { stalls: 0 },
            false => Phase::Avoid,
        };
        self.set(cut);
        self.cut_epoch = self.epoch;
    }

    /// A window's worth of answers to requests sent under the current limit.
    fn judge(&mut self) {
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
        let top = self.cap;
        match self.phase {
            Phase::Avoid => {
                // One step per window for the whole fleet: this process's
                // share of it.
                self.credit += 1;
                if self.credit >= self.writers && limit < top && self.probe == Probe::None {
                    self.credit = 0;
                    self.knee = limit + 1;
                    self.probe = Probe::Ready;
                    self.set(limit + 1);
                } else {
                    self.set(limit);
                }
            }
            Phase::Startup { stalls } => {
                if paid {
                    self.knee = self.knee.max(limit);
                    self.baseline = Some((limit, rate));
                    let next = grown(limit).min(top);
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
                    let next = grown(limit).min(top);
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
    fn answer_window(w: &mut Window, latency: Duration) {
        let limit = w.allowed();
        let tickets: Vec<Ticket> = (1..=limit).map(|n| w.send(n)).collect();
        for t in tickets {
            w.observe(t, latency, Outcome::Answered);
        }
    }

    #[test]
    fn startup_grows_by_half_while_throughput_grows_up_to_the_cap() {
        let mut w = Window::new(4, 32);
        let mut seen = vec![w.allowed()];
        for _ in 0..6 {
            answer_window(&mut w, 50 * MS);
            seen.push(w.allowed());
        }
        assert_eq!(seen, vec![4, 6, 9, 14, 21, 32, 32]);
        assert_eq!(w.knee(), 32);
    }

    #[test]
    fn stops_at_the_knee_where_throughput_stops_growing() {
        // A server that serves 12 at once and queues the rest: latency
        // grows in proportion above 12, throughput is flat.
        let latency = |n: usize| 50 * MS * (n.max(12) as u32) / 12;
        let mut w = Window::new(4, 64);
        for _ in 0..30 {
            let n = w.allowed();
            answer_window(&mut w, latency(n));
        }
        assert!(w.knee() >= 8 && w.knee() <= 16, "knee {}", w.knee());
        assert!(w.allowed() <= 20, "stays near the knee: {}", w.allowed());
        assert!(w.allowed() >= w.knee());
    }

    #[test]
    fn rising_but_productive_latency_keeps_growing() {
        // 50 ms plus 2 ms per request in flight: throughput keeps growing.
        let mut w = Window::new(4, 32);
        for _ in 0..10 {
            let n = w.allowed() as u32;
            answer_window(&mut w, 50 * MS + 2 * MS * n);
        }
        assert_eq!(w.allowed(), 32);
    }

    #[test]
    fn one_slow_answer_does_not_lower_it() {
        let mut w = Window::new(16, 16);
        answer_window(&mut w, 50 * MS);
        let ticket = w.send(16);
        w.observe(ticket, 5000 * MS, Outcome::Answered);
        for _ in 0..5 {
            answer_window(&mut w, 50 * MS);
        }
        assert_eq!(w.allowed(), 16);
    }

    #[test]
    fn latency_alone_never_takes_it_below_the_start_or_the_knee() {
        let mut w = Window::new(4, 64);
        for _ in 0..5 {
            answer_window(&mut w, 50 * MS);
        }
        let knee = w.knee();
        assert!(knee >= 16);
        for i in 1..40u32 {
            answer_window(&mut w, 50 * MS * i);
            assert!(w.allowed() >= knee, "{} < {knee}", w.allowed());
        }
    }

    #[test]
    fn overload_cuts_once_per_window_and_never_below_one() {
        let mut w = Window::new(32, 32);
        let before = w.send(32);
        w.observe(before, 50 * MS, Outcome::Congested);
        w.observe(before, 50 * MS, Outcome::Congested);
        assert_eq!(w.allowed(), 21, "a burst of 429s is one signal");
        for _ in 0..10 {
            let sent_after = w.send(1);
            w.observe(sent_after, 50 * MS, Outcome::Congested);
        }
        assert_eq!(w.allowed(), 1);
    }

    #[test]
    fn after_overload_it_grows_one_step_per_window_without_a_freeze() {
        let mut w = Window::new(20, 64);
        let ticket = w.send(20);
        w.observe(ticket, 50 * MS, Outcome::Congested);
        assert_eq!(
            w.allowed(),
            13,
            "out of startup: back to the window before its growth"
        );
        let mut seen = Vec::new();
        for _ in 0..6 {
            answer_window(&mut w, 50 * MS);
            seen.push(w.allowed());
        }
        // Each step waits for its slot's probe: in this test one window is
        // judged per round of answers, and every other one finds the probe
        // still out.
        assert_eq!(
            seen,
            vec![14, 14, 15, 15, 16, 16],
            "a step per probe answered"
        );
        let ticket = w.send(16);
        w.observe(ticket, 50 * MS, Outcome::Congested);
        assert_eq!(
            w.allowed(),
            11,
            "growing additively, it overshot by a step: 70%"
        );
        for _ in 0..120 {
            answer_window(&mut w, 50 * MS);
        }
        assert_eq!(w.allowed(), 64, "no ceiling: it keeps growing to the cap");
    }

    #[test]
    fn the_slot_a_step_adds_is_tried_by_one_request_first() {
        let mut w = Window::new(20, 64);
        let ticket = w.send(20);
        w.observe(ticket, 50 * MS, Outcome::Congested);
        answer_window(&mut w, 50 * MS);
        assert_eq!(w.allowed(), 14);
        let probe = w.send(14);
        assert_eq!(w.allowed(), 13, "one less until the probe is answered");
        w.observe(probe, 50 * MS, Outcome::Answered);
        assert_eq!(w.allowed(), 14, "answered: the slot is the window's");
    }

    #[test]
    fn a_refused_request_keeps_its_slot_for_a_round_trip() {
        let mut w = Window::new(8, 8);
        answer_window(&mut w, 40 * MS);
        assert_eq!(w.hold_after_refusal(), 40 * MS);
    }

    #[test]
    fn writers_of_one_token_share_the_step() {
        let mut w = Window::new(20, 64);
        let ticket = w.send(20);
        w.observe(ticket, 50 * MS, Outcome::Congested);
        w.set_writers(3);
        let mut seen = Vec::new();
        for _ in 0..6 {
            answer_window(&mut w, 50 * MS);
            seen.push(w.allowed());
        }
        assert_eq!(
            seen,
            vec![13, 13, 14, 14, 14, 15],
            "a step per three windows"
        );
    }

    #[test]
    fn writers_that_leave_hand_their_shares_to_those_left() {
        let mut w = Window::new(20, 64);
        let ticket = w.send(20);
        w.observe(ticket, 50 * MS, Outcome::Congested);
        w.set_writers(3);
        assert_eq!(
            w.allowed(),
            13,
            "joining writers take their share from refusals"
        );
        w.set_writers(1);
        assert_eq!(w.allowed(), 39, "alone again: the whole limit at once");
    }

    #[test]
    fn a_process_that_joins_starts_at_its_share_and_grows_additively() {
        let mut w = Window::new(4, 32);
        w.set_writers(2);
        w.join_at(10);
        assert_eq!(w.allowed(), 10);
        assert!(w.avoiding());
        answer_window(&mut w, 50 * MS);
        answer_window(&mut w, 50 * MS);
        assert_eq!(w.allowed(), 11, "half a step per window, not a doubling");
        w.join_at(3);
        assert_eq!(w.allowed(), 11, "only before it learnt anything itself");
    }

    #[test]
    fn a_window_in_startup_stops_growing_by_half_once_the_fleet_met_the_limit() {
        let mut w = Window::new(4, 32);
        answer_window(&mut w, 50 * MS);
        assert_eq!(w.allowed(), 6);
        w.set_writers(3);
        w.fleet_met_limit();
        assert!(w.avoiding());
        assert_eq!(w.allowed(), 6, "kept, not cut: it met no refusal itself");
        for _ in 0..3 {
            answer_window(&mut w, 50 * MS);
        }
        assert_eq!(
            w.allowed(),
            7,
            "a third of a step per window, not 9, 14, 21"
        );
    }

    #[test]
    fn beside_other_writers_a_window_moves_halfway_to_the_fleets_mean() {
        let mut w = Window::new(4, 32);
        w.join_at(12);
        w.set_writers(3);
        w.even_out(8.0);
        assert_eq!(w.allowed(), 10, "halfway from 12 to 8");
        w.even_out(9.0);
        assert_eq!(w.allowed(), 10, "within 1.5 of the mean: left to AIMD");
        let mut alone = Window::new(4, 32);
        alone.join_at(12);
        alone.even_out(4.0);
        assert_eq!(alone.allowed(), 12, "a lone writer has no fleet to match");
    }

    #[test]
    fn a_429_at_one_in_flight_beside_other_writers_is_a_share_not_an_outage() {
        let mut w = Window::new(1, 32);
        w.set_writers(10);
        for _ in 0..3 {
            let ticket = w.send(1);
            w.observe(ticket, 5 * MS, Outcome::Congested);
        }
        assert!(w.avoiding(), "still growing additively, not doubling");
        for _ in 0..10 {
            answer_window(&mut w, 50 * MS);
        }
        assert_eq!(w.allowed(), 2, "a tenth of a step per window");
    }

    #[test]
    fn an_outage_cuts_to_one_then_it_doubles_back() {
        let mut w = Window::new(32, 32);
        for _ in 0..8 {
            let n = w.allowed();
            let ticket = w.send(n);
            w.observe(ticket, 50 * MS, Outcome::Congested);
        }
        assert_eq!(w.allowed(), 1);
        for _ in 0..8 {
            answer_window(&mut w, 50 * MS);
        }
        assert_eq!(
            w.allowed(),
            32,
            "failing at one in flight alone is an outage, not load"
        );
    }

    #[test]
    fn a_load_that_does_not_fill_the_window_teaches_nothing() {
        let mut w = Window::new(8, 32);
        for _ in 0..10 {
            for _ in 0..8 {
                let ticket = w.send(3);
                w.observe(ticket, 50 * MS, Outcome::Answered);
            }
        }
        assert_eq!(w.allowed(), 8);
    }
}
