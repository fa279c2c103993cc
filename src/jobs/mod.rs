//! Jobs: the functional core and the shells around it.
//!
//! Pure (no I/O, unit tested): `plan` (what a sync, import or remove must
//! do), `key_schema`, `settings` (a sync's JSON columns), `admit` (whether
//! a delivered job runs), `decide` (a job's fate), `conflicts` (two syncs fighting over one destination), `report`. Shells (they read and write through `store` and
//! `humanitec`): `sync`, `import`, `remove`, `runner` (the lifecycle),
//! `credentials` and `source` (loading and decrypting).

mod admit;
pub mod conflicts;
mod context;
mod credentials;
mod decide;
mod error;
mod import;
pub mod key_schema;
pub mod plan;
mod preview;
mod remove;
mod report;
pub mod rotate;
mod runner;
pub mod settings;
mod source;
mod sync;

pub use context::{JobContext, SetupError};
pub use decide::{decide, decide_deferral, retry_delay, Deferral, Deferred, Disposition};
pub use error::JobError;
pub use preview::{Preview, PreviewUpdate};
pub use report::Report;
pub use runner::{BeforeRun, Runner};
pub use sync::preview_sync;
