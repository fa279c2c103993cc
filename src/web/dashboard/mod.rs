//! The ops dashboard, served by `secret-sync api` at `/`: server-rendered
//! HTML (`maud` templates, which escape every value from the database), one
//! CSS file and a little JavaScript, all inside the binary. Signs in with an API token (kept in an
//! HttpOnly, SameSite=Strict cookie); actions are CSRF-protected POST forms
//! that go through the one enqueue path. Documented in `docs/dashboard.md`.

mod dead;
mod detail;
mod html;
mod login;
mod overview;
mod session;
mod syncs;

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::queue::{Broker, QueueError};
use crate::store::StoreError;
use crate::web::errors::{current_req_id, ApiError};
use crate::web::state::{ApiState, DashConfig};

impl DashConfig {
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
        .route("/login", get(login::login_page).post(login::login))
        .route("/logout", post(login::logout))
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
    /// Seconds, sent as `Retry-After` (rate limits).
    retry_after: Option<u64>,
}

impl DashError {
    fn new(status: StatusCode, message: impl Into<String>) -> DashError {
        DashError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    fn forbidden(message: impl Into<String>) -> DashError {
        DashError::new(StatusCode::FORBIDDEN, message)
    }
    fn not_found(message: impl Into<String>) -> DashError {
        DashError::new(StatusCode::NOT_FOUND, message)
    }
    /// Our infrastructure failed: the cause (hosts, users, SQL) goes to the
    /// log under the request id; the page shows only that id.
    fn internal(message: &str, cause: &dyn std::fmt::Display) -> DashError {
        let req_id = current_req_id();
        tracing::error!(%req_id, error = %cause, "dashboard: {message}");
        DashError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("internal error: {message}"),
        )
    }
}

impl From<ApiError> for DashError {
    fn from(e: ApiError) -> DashError {
        DashError {
            retry_after: e.retry_after,
            ..DashError::new(e.status, e.message)
        }
    }
}

impl From<StoreError> for DashError {
    fn from(e: StoreError) -> DashError {
        DashError::internal("the database failed; try again", &e)
    }
}

impl From<QueueError> for DashError {
    fn from(e: QueueError) -> DashError {
        DashError::internal("the broker failed; try again", &e)
    }
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        let body = html::layout(
            "Error",
            "",
            None,
            maud::html! {
                div.card.error {
                    h2 { (self.status.as_u16()) " " (self.status.canonical_reason().unwrap_or("")) }
                    p { (self.message) }
                    p.muted { "Request id: " code { (current_req_id()) } }
                    p { a href="/" { "Back to the syncs" } }
                }
            },
        );
        let mut response = (self.status, page(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// A rendered page or fragment as an HTML response.
fn page(markup: maud::Markup) -> Response {
    axum::response::Html(markup.into_string()).into_response()
}

type DashResult<T = Response> = Result<T, DashError>;
