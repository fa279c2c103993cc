//! The only module that talks to Humanitec's values API.

mod client;
mod error;
mod hold;
mod limiter;
mod models;
mod observer;
mod scope;
mod window;
#[cfg(test)]
mod window_sim;

pub use client::{HttpPolicy, HumanitecClient};
pub use error::HumanitecError;
pub use hold::WriteHold;
pub use limiter::{FleetShare, Limiters, WriteLimit, Writing};
pub use models::{AppSummary, EnvSummary, OrgSummary};
pub use observer::RequestObserver;
// The domain's view of a destination, re-exported where callers first
// found it.
pub use crate::model::{is_valid_key, Scope, ValueResponse, ValueSource, WriteStamp};
