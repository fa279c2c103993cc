//! The ops dashboard, served by `secret-sync api` at `/`: server-rendered
//! HTML (every value from the database escaped), one CSS file and a little
//! JavaScript, all inside the binary. Signs in with an API token (kept in an
//! HttpOnly, SameSite=Strict cookie); actions are CSRF-protected POST forms
//! that go through the one enqueue path. Documented in `docs/dashboard.md`.

mod dead;
mod detail;
mod html;
mod overview;
mod session;
mod syncs;

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};

use crate::api::{ApiError, ApiState};
use crate::config::{ConfigError, Settings};
use crate::queue::{Broker, Names, QueueError};
use crate::store::StoreError;

/// What the dashboard needs beyond the API's state.
pub struct DashConfig {
    /// Keys the CSRF tokens (an HMAC of the session cookie). Derived from
    /// ENCRYPTION_KEY, so every API replica accepts the others' forms.
    csrf_key: [u8; 32],
    amqp_url: String,
    names: Names,
    /// The delay queues the workers may use (for the queue depths).
    delays: Vec<Duration>,
}

impl DashConfig {
    pub fn new(settings: &Settings) -> Result<DashConfig, ConfigError> {
        let key = settings.require_encryption_key()?;
        let csrf_key: [u8; 32] = Sha256::new()
            .chain_update(b"secret-sync dashboard csrf v1\0")
            .chain_update(key.as_bytes())
            .finalize()
            .into();
        let retry = &settings.worker.retry;
        let mut delays = retry.job_retry_delays.clone();
        delays.push(retry.busy_delay);
        delays.sort();
        delays.dedup();
        Ok(DashConfig {
            csrf_key,
            amqp_url: settings.amqp_url.clone(),
            names: Names::new(&settings.queue_prefix),
            delays,
        })
    }

    /// A short-lived broker connection for one page or action.
    async fn broker(&self) -> Result<Broker, DashError> {
        let open = Broker::open(&self.amqp_url, self.names.clone(), "secret-sync dashboard");
        match tokio::time::timeout(Duration::from_secs(5), open).await {
            Ok(broker) => Ok(broker?),
            Err(_) => Err(DashError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "RabbitMQ did not answer within 5 s; check AMQP_URL and the broker, then reload",
            )),
        }
    }
}

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(syncs::page))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/syncs/{id}", get(detail::page))
        .route("/syncs/{id}/preview", get(detail::preview))
        .route("/syncs/{id}/sync", post(detail::sync_now))
        .route("/syncs/{id}/import", post(detail::import))
        .route("/syncs/{id}/remove", post(detail::remove))
        .route("/overview", get(overview::page))
        .route("/dead", get(dead::page))
        .route("/dead/requeue", post(dead::requeue))
        .route("/dead/discard", post(dead::discard))
        .route("/assets/dashboard.css", get(css))
        .route("/assets/dashboard.js", get(js))
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/dashboard.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/dashboard.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A failed page or action, shown as an HTML page.
#[derive(Debug)]
pub struct DashError {
    status: StatusCode,
    message: String,
}

impl DashError {
    fn new(status: StatusCode, message: impl Into<String>) -> DashError {
        DashError {
            status,
            message: message.into(),
        }
    }
    fn forbidden(message: impl Into<String>) -> DashError {
        DashError::new(StatusCode::FORBIDDEN, message)
    }
    fn not_found(message: impl Into<String>) -> DashError {
        DashError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<ApiError> for DashError {
    fn from(e: ApiError) -> DashError {
        DashError::new(e.status, e.message)
    }
}

impl From<StoreError> for DashError {
    fn from(e: StoreError) -> DashError {
        tracing::error!(error = %e, "dashboard: database error");
        DashError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the database failed: {e}"),
        )
    }
}

impl From<QueueError> for DashError {
    fn from(e: QueueError) -> DashError {
        tracing::error!(error = %e, "dashboard: broker error");
        DashError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("RabbitMQ failed: {e}"),
        )
    }
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        let body = html::layout(
            "Error",
            "",
            None,
            &format!(
                "<div class=\"card error\"><h2>{} {}</h2><p>{}</p><p><a href=\"/\">Back to the syncs</a></p></div>",
                self.status.as_u16(),
                html::esc(self.status.canonical_reason().unwrap_or("")),
                html::esc(&self.message)
            ),
        );
        (self.status, axum::response::Html(body)).into_response()
    }
}

type DashResult<T = Response> = Result<T, DashError>;
