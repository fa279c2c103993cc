//! Jobs: the functional core and the shells around it.
//!
//! Pure (no I/O, unit tested, they import only `model` and each other):
//! `plan` (what a sync, import or remove must do), `key_schema`, `settings`
//! (a sync's JSON columns), `admit` (whether a delivered job runs), `decide`
//! (a job's fate), `conflicts` (two syncs fighting over one destination).
//! Shells (they read and write through `store` and `humanitec`, and
//! convert at that edge): `sync`, `import`, `remove`, `runner` (the
//! lifecycle), `credentials` and `source` (loading and decrypting),
//! `context` (the dependencies), `fence` (the lease check before a
//! run's first write), `error` (what a user is told, and the
//! infrastructure's errors).

mod admit;
pub mod conflicts;
mod context;
mod credentials;
mod decide;
mod error;
mod fence;
mod import;
pub mod key_schema;
pub mod plan;
mod preview;
mod remove;
pub mod rotate;
mod runner;
pub mod settings;
mod source;
mod sync;

pub use crate::model::Report;
pub use admit::Admission;
pub use context::{JobContext, SetupError};
pub use credentials::decrypt_token;
pub use decide::{decide, decide_deferral, retry_delay, Deferral, Deferred, Disposition};
pub use error::{InfraError, JobError, JobFailure};
pub use preview::{Preview, PreviewUpdate};
pub use runner::{retry_policy, BeforeRun, Runner, SHOW_RUNNING_AFTER};
pub use sync::preview_sync;
