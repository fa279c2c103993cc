//! The only module that talks to Humanitec's values API.

mod client;
mod error;
mod limiter;
mod models;
mod observer;
mod scope;

pub use client::{HttpPolicy, HumanitecClient};
pub use error::HumanitecError;
pub use limiter::{Limiters, WriteLimit};
pub use models::{is_valid_key, ValueResponse, ValueSource, WriteStamp};
pub use observer::RequestObserver;
pub use scope::Scope;
