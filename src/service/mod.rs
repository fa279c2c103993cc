//! The rules between the faces (the JSON API in `web/api`, the dashboard in
//! `web/dashboard`) and the stores. A sync is created, changed, deleted,
//! given a job or previewed here, the same way whichever face asked: the
//! faces check who calls and what they typed, call one function, and
//! render its answer or its [`SyncError`] (JSON or HTML).

mod error;
pub mod pauses;
mod syncs;

pub use error::SyncError;
pub use syncs::{Acting, Created, DefinitionChanges, Deleted, NewDefinition, SyncService, Updated};
