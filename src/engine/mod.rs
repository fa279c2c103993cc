//! The job engine: how a job goes from its message to its recorded
//! outcome, and the loops that keep the job rows honest.
//!
//! - `enqueue`: the one way to queue a job (publish with confirms, then
//!   the `pending` row and the queued marker), and waiting for its outcome.
//! - `admit` and `decide` (pure): whether a delivered job runs, and its
//!   fate (done, retried later, dead-lettered) from its outcome.
//! - `runner`: takes the sync's lease, loads the sync, runs the job
//!   (`jobs::run_kind`, one file per kind under `jobs/`) behind a `fence`,
//!   records the outcome through the job ledger (`store::JobLedger`).
//! - `pause`: the pauses in force as a worker sees them, and a run's hold
//!   on its Humanitec writes (issue 41).
//! - `maintenance`: the reaper, orphans, rescuer, schedule, gauges,
//!   notifier and sweeper, one file each, all of one shape.

mod admit;
mod decide;
pub mod enqueue;
mod fence;
pub mod maintenance;
pub mod pause;
mod runner;

pub use admit::Admission;
pub use decide::{decide, decide_deferral, retry_delay, Deferral, Deferred, Disposition};
pub use enqueue::{enqueue, wait_for_job, JobClient};
pub use pause::PauseWatch;
pub use runner::{retry_policy, BeforeRun, Runner, SHOW_RUNNING_AFTER};
