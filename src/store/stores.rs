//! The database by consumer: each a small type over the one pool, named
//! for who uses it. `Store` holds one of each (`store.ledger`, …); a
//! method lives on the type of the room that calls it.

use super::Db;

/// The engine's: job rows, the sync's lease, the queued marker, the
/// schedule, workers seen, the gauges (`jobs/`, `schedule.rs`,
/// `workers.rs`, `read/gauges.rs`).
#[derive(Clone)]
pub struct JobLedger {
    pub(super) db: Db,
    /// Writes the outcomes of runs that end together at once.
    pub(super) completer: super::jobs::Completer,
}

/// Syncs, their folders and connections, and what each pushed: written by
/// the sync service, read by the jobs (`syncs/`, `folders.rs`,
/// `connections.rs`).
#[derive(Clone)]
pub struct SyncRepo {
    pub(super) db: Db,
}

/// What the dashboard and the `status` command show (`read/`).
#[derive(Clone)]
pub struct DashboardReads {
    pub(super) db: Db,
}

/// API tokens, projects, dashboard sessions (`tokens.rs`, `sessions.rs`).
#[derive(Clone)]
pub struct AuthStore {
    pub(super) db: Db,
}

/// Notification channels and the deliveries waiting for them (`notify.rs`).
#[derive(Clone)]
pub struct Outbox {
    pub(super) db: Db,
}

/// The audit log (`audit.rs`).
#[derive(Clone)]
pub struct Audit {
    pub(super) db: Db,
}

/// Rewriting encrypted columns under a new key (`rotation.rs`).
#[derive(Clone)]
pub struct KeyRotation {
    pub(super) db: Db,
}
