//! The window against simulated Humanitec servers: a deterministic
//! discrete-event simulation of one sync writing `WRITES` new keys through
//! one connection, compared with every fixed limit from 1 to the cap.
//! `cargo test --lib window_sim -- --nocapture` prints the table.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use super::window::{Outcome, Ticket, Window};

const WRITES: usize = 500;
const CAP: usize = 32;
const INITIAL: usize = 4;
/// How long a rejection (429) takes to come back.
const REJECT_US: u64 = 5_000;

#[derive(Clone, Copy, Debug)]
enum Server {
    /// Every answer takes the same time.
    Constant { ms: u64 },
    /// Latency rises linearly with the requests in flight at the server.
    Rising { base_ms: u64, per_request_us: u64 },
    /// Serves `slots` at once and queues the rest: beyond `slots`, latency
    /// grows and throughput does not.
    Queueing { slots: usize, ms: u64 },
    /// A token bucket of `per_second` (burst `burst`); 429 without a token.
    RateLimited {
        per_second: u64,
        burst: u64,
        ms: u64,
    },
    /// 429 beyond `cap` requests in flight.
    InFlightCap { cap: usize, ms: u64 },
    /// 503 for every request that arrives in [from, to).
    Outage { ms: u64, from_ms: u64, to_ms: u64 },
    /// 429 beyond `cap` in flight, and beyond `low` in [from, to) (a burst
    /// of 429s: another client of the token, a brief squeeze upstream).
    Squeeze {
        cap: usize,
        low: usize,
        ms: u64,
        from_ms: u64,
        to_ms: u64,
    },
}

impl Server {
    fn name(&self) -> String {
        match *self {
            Server::Constant { ms } => format!("constant {ms} ms"),
            Server::Rising {
                base_ms,
                per_request_us,
            } => format!(
                "{base_ms} ms + {:.1} ms per request in flight",
                per_request_us as f64 / 1000.0
            ),
            Server::Queueing { slots, ms } => format!("{ms} ms, {slots} at once, rest queued"),
            Server::RateLimited { per_second, ms, .. } => {
                format!("{ms} ms, 429 above {per_second}/s")
            }
            Server::InFlightCap { cap, ms } => format!("{ms} ms, 429 above {cap} in flight"),
            Server::Outage { ms, from_ms, to_ms } => {
                format!("{ms} ms, 503 from {from_ms} to {to_ms} ms")
            }
            Server::Squeeze {
                cap,
                low,
                ms,
                from_ms,
                to_ms,
            } => format!("{ms} ms, cap {cap}, {low} from {from_ms} to {to_ms} ms"),
        }
    }
}

/// The server's state during one run.
struct ServerState {
    kind: Server,
    in_flight: usize,
    /// When each of the queueing server's slots frees up (µs).
    slots: Vec<u64>,
    tokens: f64,
    refilled_at: u64,
    /// A fixed pseudo-random sequence (xorshift) for latency jitter.
    draws: u64,
}

impl ServerState {
    fn new(kind: Server) -> ServerState {
        let (slots, tokens) = match kind {
            Server::Queueing { slots, .. } => (vec![0; slots], 0.0),
            Server::RateLimited { burst, .. } => (Vec::new(), burst as f64),
            _ => (Vec::new(), 0.0),
        };
        ServerState {
            kind,
            in_flight: 0,
            slots,
            tokens,
            refilled_at: 0,
            draws: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// A request arrives at `now` (µs): how long it takes and how it ends.
    /// Answers vary by ±10% (the same sequence every run): a real server's
    /// jitter, without which every process's requests would come back in
    /// lockstep and meet the limit at the same instant.
    fn arrive(&mut self, now: u64) -> (u64, Outcome) {
        let (took, outcome) = self.answer(now);
        if outcome != Outcome::Answered {
            return (took, outcome);
        }
        self.draws ^= self.draws << 13;
        self.draws ^= self.draws >> 7;
        self.draws ^= self.draws << 17;
        (took * (90 + self.draws % 21) / 100, outcome)
    }

    fn answer(&mut self, now: u64) -> (u64, Outcome) {
        self.in_flight += 1;
        let ok = Outcome::Answered;
        match self.kind {
            Server::Constant { ms } => (ms * 1000, ok),
            Server::Rising {
                base_ms,
                per_request_us,
            } => (base_ms * 1000 + per_request_us * self.in_flight as u64, ok),
            Server::Queueing { ms, .. } => {
                let (i, free) = self
                    .slots
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by_key(|&(_, t)| t)
                    .unwrap_or((0, 0));
                let done = free.max(now) + ms * 1000;
                if let Some(slot) = self.slots.get_mut(i) {
                    *slot = done;
                }
                (done - now, ok)
            }
            Server::RateLimited {
                per_second,
                burst,
                ms,
            } => {
                let elapsed = (now - self.refilled_at) as f64 / 1e6;
                self.tokens = (self.tokens + elapsed * per_second as f64).min(burst as f64);
                self.refilled_at = now;
                if self.tokens >= 1.0 {
                    self.tokens -= 1.0;
                    (ms * 1000, ok)
                } else {
                    (REJECT_US, Outcome::Congested)
                }
            }
            Server::InFlightCap { cap, ms } => {
                if self.in_flight > cap {
                    (REJECT_US, Outcome::Congested)
                } else {
                    (ms * 1000, ok)
                }
            }
            Server::Outage { ms, from_ms, to_ms } => {
                if (from_ms * 1000..to_ms * 1000).contains(&now) {
                    (ms * 1000, Outcome::Congested)
                } else {
                    (ms * 1000, ok)
                }
            }
            Server::Squeeze {
                cap,
                low,
                ms,
                from_ms,
                to_ms,
            } => {
                let squeezed = (from_ms * 1000..to_ms * 1000).contains(&now);
                if self.in_flight > if squeezed { low } else { cap } {
                    (REJECT_US, Outcome::Congested)
                } else {
                    (ms * 1000, ok)
                }
            }
        }
    }
}

enum Limit {
    Fixed(usize),
    Adaptive(Window),
}

impl Limit {
    fn allowed(&self) -> usize {
        match self {
            Limit::Fixed(n) => *n,
            Limit::Adaptive(w) => w.allowed(),
        }
    }
}

enum Event {
    Done {
        process: usize,
        task: usize,
        ticket: Option<Ticket>,
        round_trip: u64,
        outcome: Outcome,
    },
    /// A rejected write's backoff ran out.
    Retry { process: usize, task: usize },
    /// A refused request gives its slot back (after the window's hold).
    Release { process: usize },
    /// The fleet's writer count reaches every window (as the Postgres
    /// heartbeat does, every `REFRESH_US`).
    Refresh,
}

/// How often processes learn how many write with the token
/// (`HUMANITEC_FLEET_EVERY`).
const REFRESH_US: u64 = 50_000;
/// How long a process that wrote its last key still counts as a writer:
/// its quiet time (three rounds) and a round for the others to read its
/// withdrawal. With the two seconds reports used to count for, three
/// processes took 2.52 s where one took 2.38 s, and ten 2.64 s.
const LEAVE_US: u64 = 200_000;

struct Run {
    seconds: f64,
    rejected: usize,
    final_limit: usize,
    /// The smallest sum of the windows of the processes still writing,
    /// once every process has met the server (after the first 429).
    lowest_total: Option<usize>,
    /// (µs, sum of the windows of the processes still writing) after each
    /// answer.
    totals: Vec<(u64, usize)>,
}

/// The client's backoff before retrying a rejected write (no jitter here).
fn backoff(attempt: u32) -> u64 {
    (200_000u64 << attempt.min(5)).min(5_000_000)
}

/// Events by time (µs), then by the order they were made.
#[derive(Default)]
struct Events {
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    payloads: Vec<Option<Event>>,
}

impl Events {
    fn push(&mut self, when: u64, event: Event) {
        self.payloads.push(Some(event));
        self.heap.push(Reverse((when, self.payloads.len() - 1)));
    }

    fn pop(&mut self) -> Option<(u64, Event)> {
        let Reverse((when, id)) = self.heap.pop()?;
        Some((when, self.payloads.get_mut(id)?.take()?))
    }
}

/// One process of the fleet: its limit and the writes it has left.
struct Process {
    limit: Limit,
    ready: VecDeque<usize>,
    attempts: Vec<u32>,
    in_flight: usize,
    left: usize,
    /// When it wrote its last key (µs).
    finished_at: Option<u64>,
}

/// `limits.len()` processes write `writes` keys each through one token on
/// one server, all starting at once. The limits keep their state, so a
/// second run continues where the first left them.
fn run(server: Server, limits: &mut Vec<Limit>, writes: usize) -> Run {
    let mut state = ServerState::new(server);
    let mut fleet: Vec<Process> = limits
        .drain(..)
        .map(|limit| Process {
            limit,
            ready: (0..writes).collect(),
            attempts: vec![0; writes],
            in_flight: 0,
            left: writes,
            finished_at: None,
        })
        .collect();
    let mut events = Events::default();
    // Processes learn of each other at their first report: a fleet that
    // starts at once doubles into the server's limit before it knows.
    events.push(REFRESH_US, Event::Refresh);
    let mut last_reports: Vec<Option<usize>> = vec![None; fleet.len()];
    let (mut now, mut rejected) = (0u64, 0usize);
    let mut lowest_total: Option<usize> = None;
    let mut totals = Vec::new();
    while fleet.iter().any(|p| p.left > 0) {
        for (process, p) in fleet.iter_mut().enumerate() {
            while p.in_flight < p.limit.allowed() {
                let Some(task) = p.ready.pop_front() else {
                    break;
                };
                p.in_flight += 1;
                let in_flight = p.in_flight;
                let ticket = match &mut p.limit {
                    Limit::Adaptive(w) => Some(w.send(in_flight)),
                    Limit::Fixed(_) => None,
                };
                let (round_trip, outcome) = state.arrive(now);
                events.push(
                    now + round_trip,
                    Event::Done {
                        process,
                        task,
                        ticket,
                        round_trip,
                        outcome,
                    },
                );
            }
        }
        let Some((when, event)) = events.pop() else {
            break;
        };
        now = when;
        match event {
            Event::Refresh => {
                let writers = fleet
                    .iter()
                    .filter(|p| p.finished_at.is_none_or(|at| now < at + LEAVE_US))
                    .count();
                // What each process reports this round (the others act on
                // it at the next).
                let reports: Vec<Option<usize>> = fleet
                    .iter()
                    .map(|p| (p.left > 0).then(|| p.limit.allowed()))
                    .collect();
                let avoiding: Vec<bool> = fleet
                    .iter()
                    .map(|p| p.left > 0 && matches!(&p.limit, Limit::Adaptive(w) if w.avoiding()))
                    .collect();
                for (i, p) in fleet.iter_mut().enumerate() {
                    if let Limit::Adaptive(w) = &mut p.limit {
                        w.set_writers(writers);
                        // As `Limiters::share`: another writer met the limit.
                        if avoiding.iter().enumerate().any(|(j, a)| *a && j != i) {
                            w.fleet_met_limit();
                        }
                        // The others' windows as they reported them a
                        // round ago, and this one's.
                        let others: Vec<usize> = last_reports
                            .iter()
                            .enumerate()
                            .filter(|&(j, _)| j != i)
                            .filter_map(|(_, r)| *r)
                            .collect();
                        if p.left > 0 && !others.is_empty() {
                            let sum = others.iter().sum::<usize>() + w.allowed();
                            w.even_out(sum as f64 / (others.len() + 1) as f64);
                        }
                    }
                }
                last_reports = reports;
                events.push(now + REFRESH_US, Event::Refresh);
            }
            Event::Retry { process, task } => fleet[process].ready.push_back(task),
            Event::Release { process } => fleet[process].in_flight -= 1,
            Event::Done {
                process,
                task,
                ticket,
                round_trip,
                outcome,
            } => {
                state.in_flight -= 1;
                let p = &mut fleet[process];
                let mut hold = 0;
                if let (Limit::Adaptive(w), Some(ticket)) = (&mut p.limit, ticket) {
                    w.observe(ticket, Duration::from_micros(round_trip), outcome);
                    if outcome == Outcome::Congested {
                        hold = w.hold_after_refusal().as_micros() as u64;
                    }
                }
                if hold > 0 {
                    events.push(now + hold, Event::Release { process });
                } else {
                    p.in_flight -= 1;
                }
                if outcome == Outcome::Congested {
                    rejected += 1;
                    p.attempts[task] += 1;
                    // As the client does: a bare 429 to an adaptive write
                    // waits for a slot again (after its hold), up to 8
                    // times; a 503 and a fixed limit's refusals back off.
                    let requeue = matches!(p.limit, Limit::Adaptive(_))
                        && !matches!(server, Server::Outage { .. })
                        && p.attempts[task] <= 8;
                    let wait = match requeue {
                        true => hold,
                        false => backoff(p.attempts[task] - 1),
                    };
                    events.push(now + wait, Event::Retry { process, task });
                } else {
                    p.left -= 1;
                    if p.left == 0 {
                        p.finished_at = Some(now);
                    }
                }
                let total = fleet
                    .iter()
                    .filter(|p| p.left > 0)
                    .map(|p| p.limit.allowed())
                    .sum::<usize>();
                totals.push((now, total));
                if rejected > 0 && total > 0 {
                    lowest_total = Some(lowest_total.map_or(total, |l| l.min(total)));
                }
            }
        }
    }
    let final_limit = fleet.first().map_or(0, |p| p.limit.allowed());
    limits.extend(fleet.into_iter().map(|p| p.limit));
    Run {
        seconds: now as f64 / 1e6,
        rejected,
        final_limit,
        lowest_total,
        totals,
    }
}

fn run_one(server: Server, limit: Limit) -> Run {
    run(server, &mut vec![limit], WRITES)
}

fn adaptive() -> Limit {
    Limit::Adaptive(Window::new(INITIAL, CAP))
}

fn servers() -> Vec<Server> {
    vec![
        Server::Constant { ms: 50 },
        Server::Rising {
            base_ms: 50,
            per_request_us: 1_000,
        },
        Server::Rising {
            base_ms: 50,
            per_request_us: 2_000,
        },
        Server::Rising {
            base_ms: 50,
            per_request_us: 10_000,
        },
        Server::Queueing { slots: 12, ms: 50 },
        Server::RateLimited {
            per_second: 200,
            burst: 10,
            ms: 50,
        },
        Server::InFlightCap { cap: 20, ms: 50 },
        Server::Outage {
            ms: 50,
            from_ms: 200,
            to_ms: 700,
        },
    ]
}

#[test]
fn the_window_against_simulated_servers() {
    println!(
        "\n{WRITES} writes, cap {CAP}, adaptive starts at {INITIAL}\n\
         {:<42} {:>10} {:>10} {:>16} {:>22}",
        "server", "in order", "fixed 4", "best fixed", "adaptive (final, 429s)"
    );
    for server in servers() {
        let sequential = run_one(server, Limit::Fixed(1));
        let four = run_one(server, Limit::Fixed(4));
        let (best_n, best) = (1..=CAP)
            .map(|n| (n, run_one(server, Limit::Fixed(n))))
            .min_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds))
            .expect("at least one fixed limit");
        let adaptive = run_one(server, adaptive());
        println!(
            "{:<42} {:>9.2}s {:>9.2}s {:>9.2}s ({:>2}) {:>9.2}s ({:>2}, {:>3})",
            server.name(),
            sequential.seconds,
            four.seconds,
            best.seconds,
            best_n,
            adaptive.seconds,
            adaptive.final_limit,
            adaptive.rejected,
        );
        assert!(
            adaptive.seconds <= four.seconds,
            "{}: adaptive {:.2}s, fixed 4 {:.2}s",
            server.name(),
            adaptive.seconds,
            four.seconds
        );
        assert!(
            adaptive.seconds <= best.seconds * 1.35,
            "{}: adaptive {:.2}s, best fixed {:.2}s",
            server.name(),
            adaptive.seconds,
            best.seconds
        );
        if matches!(
            server,
            Server::Constant { .. }
                | Server::Rising {
                    per_request_us: 1_000,
                    ..
                }
        ) {
            assert!(
                adaptive.seconds < 2.0,
                "{}: {:.2}s",
                server.name(),
                adaptive.seconds
            );
        }
    }
}

/// Total writes of the fleet cases, split evenly between the processes.
const FLEET_WRITES: usize = 900;

fn fleet(n: usize) -> Vec<Limit> {
    (0..n).map(|_| adaptive()).collect()
}

/// The fastest fixed limit per process, the same for every process: the
/// best a fleet that knew the server and its own size could do.
fn best_fixed_share(server: Server, processes: usize) -> (usize, Run) {
    (1..=CAP)
        .map(|n| {
            let mut limits = (0..processes).map(|_| Limit::Fixed(n)).collect();
            (n, run(server, &mut limits, FLEET_WRITES / processes))
        })
        .min_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds))
        .expect("at least one fixed limit")
}

#[test]
fn a_fleet_of_windows_on_one_token() {
    println!(
        "\n{FLEET_WRITES} writes split between the processes of a fleet, one token\n\
         {:<40} {:>9} {:>16} {:>26} {:>24}",
        "server",
        "processes",
        "best fixed share",
        "adaptive (429s, lowest)",
        "then one process alone"
    );
    let servers = [
        Server::InFlightCap { cap: 24, ms: 50 },
        Server::RateLimited {
            per_second: 400,
            burst: 20,
            ms: 50,
        },
        Server::Queueing { slots: 12, ms: 50 },
        Server::Constant { ms: 50 },
    ];
    for server in servers {
        let mut one_process = f64::INFINITY;
        for processes in [1, 3, 10] {
            let (best_n, best) = best_fixed_share(server, processes);
            let mut windows = fleet(processes);
            let adaptive = run(server, &mut windows, FLEET_WRITES / processes);
            if processes == 1 {
                one_process = adaptive.seconds;
            }
            // The crawl: the first process goes on alone right after.
            windows.truncate(1);
            let (_, alone_best) = best_fixed_share(server, 1);
            let alone = run(server, &mut windows, FLEET_WRITES);
            println!(
                "{:<40} {:>9} {:>9.2}s ({:>2}) {:>9.2}s ({:>3}, {:>4}) {:>9.2}s (best {:.2}s)",
                server.name(),
                processes,
                best.seconds,
                best_n,
                adaptive.seconds,
                adaptive.rejected,
                adaptive
                    .lowest_total
                    .map_or("-".to_string(), |l| l.to_string()),
                alone.seconds,
                alone_best.seconds,
            );
            let name = format!("{}, {processes} processes", server.name());
            // Runs shorter than a second are mostly the start (ten
            // processes of 90 writes at 320 in flight take 0.16 s).
            assert!(
                best.seconds < 1.0 || adaptive.seconds <= best.seconds * 1.35,
                "{name}: adaptive {:.2}s, best fixed share {:.2}s",
                adaptive.seconds,
                best.seconds
            );
            assert!(
                adaptive.seconds <= one_process,
                "{name}: {:.2}s, one process {one_process:.2}s: never slower than one",
                adaptive.seconds
            );
            assert!(
                alone.seconds <= alone_best.seconds * 1.35,
                "{name}: alone afterwards {:.2}s, best {:.2}s",
                alone.seconds,
                alone_best.seconds
            );
            // Most refusals are the start: processes that start together
            // double into the limit before their first report. Ten writers
            // start at 40 in flight against 24, and each refusal costs a
            // window of two or three a third of itself.
            let most = if processes >= 10 { 5 } else { 10 };
            assert!(
                adaptive.rejected * most <= FLEET_WRITES,
                "{name}: {} of {FLEET_WRITES} writes met a 429",
                adaptive.rejected
            );
            if let Some(lowest) = adaptive.lowest_total {
                assert!(
                    lowest >= 2,
                    "{name}: the fleet collapsed to {lowest} in flight without an outage"
                );
            }
        }
    }
}

#[test]
fn a_fleet_is_back_at_the_limit_soon_after_a_burst_of_429s() {
    let (from_ms, to_ms) = (500, 1_500);
    let server = Server::Squeeze {
        cap: 24,
        low: 4,
        ms: 50,
        from_ms,
        to_ms,
    };
    println!(
        "\n{}: time from the end of the burst until the fleet's windows sum to 20",
        server.name()
    );
    for processes in [1, 3, 10] {
        let adaptive = run(server, &mut fleet(processes), 3_000 / processes);
        let back = adaptive
            .totals
            .iter()
            .find(|&&(at, total)| at >= to_ms * 1000 && total >= 20)
            .map(|&(at, _)| (at - to_ms * 1000) as f64 / 1e6);
        println!(
            "{processes:>3} processes: back after {}, {:.2}s in all, {} 429s",
            back.map_or("never".to_string(), |b| format!("{b:.2}s")),
            adaptive.seconds,
            adaptive.rejected
        );
        let back = back.unwrap_or(f64::INFINITY);
        assert!(back <= 5.0, "{processes} processes: back after {back:.2}s");
    }
}
