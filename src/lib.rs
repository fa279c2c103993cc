//! secret-sync: keeps Humanitec shared values in step with a secrets manager.
//!
//! Pure, no I/O: [`model`] (the domain's types), [`jobs::plan`],
//! [`jobs::key_schema`], [`jobs::settings`], [`jobs::decide`], [`config`]
//! (settings read through a lookup function) and [`crypto`].
//!
//! I/O, each behind one module: [`humanitec`] (the only code that calls
//! Humanitec), [`queue`] (the only code that talks to RabbitMQ, and the only
//! code that sees message bodies), [`store`] (the only code that talks to
//! Postgres); [`tls`] is the client TLS both the store and the queue use.
//! Built on them: [`enqueue`] (the one way to enqueue a job),
//! [`worker`] (`secret-sync run`), [`http`] (health and metrics), [`web`]
//! (`secret-sync api`: the JSON API and the ops dashboard in one process)
//! and the command line in `cli`.

#[cfg(feature = "web")]
pub mod cli;
pub mod config;
pub mod crypto;
pub mod engine;
pub mod http;
pub mod humanitec;
pub mod jobs;
pub mod model;
pub mod notify;
pub mod queue;
pub mod service;
pub mod store;
mod telemetry;
pub mod tls;
#[cfg(feature = "web")]
pub mod web;
pub mod worker;

pub use config::Settings;
pub use crypto::Cipher;
pub use engine::{enqueue, wait_for_job, JobClient};
pub use model::{ImportBehavior, Job, JobKind, JobStatus, JobType};
pub use store::Store;
pub use telemetry::{init as init_logging, init_service as init_telemetry, Telemetry};
