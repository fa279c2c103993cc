//! The jobs and the domain they work in; how a job is run (leased,
//! admitted, recorded) is the engine's (`crate::engine`).
//!
//! Pure (no I/O, unit tested, they import only `model` and each other):
//! `plan` (what a sync, import or remove must do), `key_schema`, `settings`
//! (a sync's JSON columns), `conflicts` (the one rule against two syncs
//! fighting over one destination).
//! The jobs, one file per kind, each a [`job::BackgroundJob`] (they read
//! and write through `store` and `humanitec`, and convert at that edge):
//! `sync`, `import`, `remove`; `kinds` (which job a kind asks for);
//! `credentials` and `source` (loading and decrypting), `context` (the
//! dependencies), `preview`, `rotate` (the `rotate-key` command's work),
//! `error` (what a user is told, and the infrastructure's errors).

pub mod conflicts;
mod context;
mod credentials;
mod error;
mod import;
pub mod job;
pub mod key_schema;
mod kinds;
pub mod plan;
mod preview;
mod remove;
pub mod resolve;
pub mod rotate;
pub mod settings;
mod source;
mod sync;

pub use crate::model::Report;
pub use context::{JobContext, SetupError};
pub use credentials::decrypt_token;
pub use error::{InfraError, JobError, JobFailure};
pub use kinds::run_kind;
pub use preview::{Preview, PreviewUpdate};
pub use sync::preview_sync;
