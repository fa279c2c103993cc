//! HTTP surfaces: the worker's health and metrics endpoints, and the API.

pub mod health;
pub mod metrics;
mod serve;

pub use health::{health_router, HealthState};
pub use metrics::Metrics;

pub use serve::{listen, plain_timeout_answer, serve, serve_with, TimeoutAnswer};
