//! Jobs: the functional core (`plan`, `key_schema`, `settings`) and the
//! shells that run sync, import and remove jobs around it.

mod context;
mod error;
mod import;
pub mod key_schema;
pub mod plan;
mod remove;
mod report;
mod runner;
pub mod settings;
mod sync;

pub use context::JobContext;
pub use error::JobError;
pub use report::Report;
pub use runner::{retry_delay, Disposition, JobDelivery, Runner};
