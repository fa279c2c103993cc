//! secret-sync: keeps Humanitec shared values in step with a secrets manager.
//!
//! Layout: one folder per concern. `jobs` holds the functional core (planning)
//! and the job runners; `humanitec`, `queue` and `store` are the only modules
//! that talk to the outside world.

pub mod cli;
pub mod config;
pub mod crypto;
pub mod http;
pub mod humanitec;
pub mod jobs;
pub mod model;
pub mod queue;
pub mod sandbox;
pub mod store;
pub mod telemetry;
pub mod worker;
