//! The window against simulated Humanitec servers: a deterministic
//! discrete-event simulation of one sync writing `WRITES` new keys through
//! one connection, compared with every fixed limit from 1 to the cap.
//! `cargo test --lib window_sim -- --nocapture` prints the table.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

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
        }
    }

    /// A request arrives at `now` (µs): how long it takes and how it ends.
    fn arrive(&mut self, now: u64) -> (u64, Outcome) {
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
        task: usize,
        ticket: Option<Ticket>,
        round_trip: u64,
        outcome: Outcome,
    },
    /// A rejected write's backoff ran out.
    Retry { task: usize },
}

struct Run {
    seconds: f64,
    rejected: usize,
    final_limit: usize,
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

fn run(server: Server, mut limit: Limit) -> Run {
    let origin = Instant::now();
    let mut state = ServerState::new(server);
    let mut ready: VecDeque<usize> = (0..WRITES).collect();
    let mut attempts = vec![0u32; WRITES];
    let mut events = Events::default();
    let (mut now, mut in_flight, mut finished, mut rejected) = (0u64, 0usize, 0usize, 0usize);
    while finished < WRITES {
        while in_flight < limit.allowed() {
            let Some(task) = ready.pop_front() else { break };
            in_flight += 1;
            let ticket = match &mut limit {
                Limit::Adaptive(w) => Some(w.send(in_flight)),
                Limit::Fixed(_) => None,
            };
            let (round_trip, outcome) = state.arrive(now);
            events.push(
                now + round_trip,
                Event::Done {
                    task,
                    ticket,
                    round_trip,
                    outcome,
                },
            );
        }
        let Some((when, event)) = events.pop() else {
            break;
        };
        now = when;
        match event {
            Event::Retry { task } => ready.push_back(task),
            Event::Done {
                task,
                ticket,
                round_trip,
                outcome,
            } => {
                in_flight -= 1;
                state.in_flight -= 1;
                if let (Limit::Adaptive(w), Some(ticket)) = (&mut limit, ticket) {
                    let at = origin + Duration::from_micros(now);
                    w.observe(ticket, Duration::from_micros(round_trip), outcome, at);
                }
                if outcome == Outcome::Congested {
                    rejected += 1;
                    attempts[task] += 1;
                    events.push(now + backoff(attempts[task] - 1), Event::Retry { task });
                } else {
                    finished += 1;
                }
            }
        }
    }
    Run {
        seconds: now as f64 / 1e6,
        rejected,
        final_limit: limit.allowed(),
    }
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
        let sequential = run(server, Limit::Fixed(1));
        let four = run(server, Limit::Fixed(4));
        let (best_n, best) = (1..=CAP)
            .map(|n| (n, run(server, Limit::Fixed(n))))
            .min_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds))
            .expect("at least one fixed limit");
        let adaptive = run(server, Limit::Adaptive(Window::new(INITIAL, CAP)));
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
