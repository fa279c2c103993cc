//! HTTP surfaces: the health and metrics endpoints (worker and API), and
//! the server both run on.

pub mod health;
pub mod metrics;
mod process;
mod serve;

pub use health::{health_router, readiness, BrokerReadiness, HealthState, LiveSessions};
pub use metrics::Metrics;

pub use serve::{listen, plain_timeout_answer, serve, serve_with, TimeoutAnswer};
