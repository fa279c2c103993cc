//! Jobs and their sync's lease: the job rows, the lease that lets one job
//! of a sync run at a time, the queued marker that coalesces requests, and
//! the read a job starts from. Files depend downwards only: `lifecycle` on
//! `completer` and `lease`, both on `state`; `start` on `state`, `queued`
//! and `syncs`.

mod completer;
mod lease;
mod lifecycle;
mod queued;
mod start;
mod state;

pub(crate) use completer::Completer;
pub use lease::{LeaseAttempt, LeaseTake, SyncLease};
pub use lifecycle::{OrphanFate, OrphanedJob, StaleJob};
pub use queued::Claim;
pub use state::JobStart;
