//! `secret-sync api`: one HTTP process serving the seed's Secret Sync API
//! and the App Connection API (`api/`, JSON, documented in `docs/api.md`
//! and `docs/openapi.json`) and the ops dashboard (`dashboard/`, HTML,
//! documented in `docs/dashboard.md`). Both share the state, the token
//! check and the error body defined here; neither names the other.

pub mod api;
pub mod auth;
mod dashboard;
mod errors;
mod headers;
mod limits;
mod router;
mod routes;
mod state;
mod traced;

pub use errors::{request_timeout_answer, ApiError};
pub use router::{route_table, router};
pub use routes::{Area, RouteInfo};
pub use state::{ApiStartError, ApiState, DashConfig};
