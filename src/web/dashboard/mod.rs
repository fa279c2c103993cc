//! The ops dashboard, served by `secret-sync api` at `/`: server-rendered
//! HTML (`maud` templates, which escape every value from the database), one
//! CSS file and a little JavaScript, all inside the binary. Signs in with an API token, which
//! opens a server-side session (the cookie holds only its random id, see
//! `session`); actions are CSRF-protected POST forms
//! that go through the one enqueue path. Documented in `docs/dashboard.md`.

mod actions;
mod audit;
mod channels;
mod dead;
mod detail;
mod html;
mod job;
mod login;
mod overview;
mod pauses;
mod session;
mod syncs;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::queue::{Broker, QueueError};
use crate::store::StoreError;
use crate::web::errors::{current_req_id, ApiError};
use crate::web::routes::{Area, Routes};
use crate::web::state::DashConfig;

impl DashConfig {
    /// The process's shared broker connection, for one page or action;
    /// while RabbitMQ is down the page says so at once.
    async fn broker(&self) -> Result<Arc<Broker>, DashError> {
        match self.link.broker(BROKER_WAIT).await {
            Ok(broker) => Ok(broker),
            Err(e @ QueueError::Unavailable { .. }) => {
                tracing::warn!(error = %e, "the dashboard could not reach RabbitMQ");
                Err(DashError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "RabbitMQ is not reachable right now; check AMQP_URL and the broker, then reload",
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// How long a page waits for a broker connection attempt in flight.
const BROKER_WAIT: Duration = Duration::from_secs(2);

pub fn routes() -> Routes {
    use Area::{Dashboard as D, Public as P};
    Routes::new()
        .add(D, Method::GET, "/", syncs::page)
        .add(P, Method::GET, "/login", login::login_page)
        .add(P, Method::POST, "/login", login::login)
        .add(P, Method::POST, "/logout", login::logout)
        .add(D, Method::GET, "/syncs/{id}", detail::page)
        .add(D, Method::GET, "/syncs/{id}/preview", detail::preview)
        .add(D, Method::POST, "/syncs/{id}/sync", detail::sync_now)
        .add(D, Method::POST, "/syncs/{id}/import", detail::import)
        .add(D, Method::POST, "/syncs/{id}/remove", detail::remove)
        .add(D, Method::POST, "/syncs/{id}/auto-sync", actions::auto_sync)
        .add(D, Method::POST, "/syncs/{id}/delete", actions::delete)
        .add(D, Method::POST, "/retry-failed", actions::retry_failed)
        .add(D, Method::GET, "/jobs/{jobId}", job::page)
        .add(D, Method::GET, "/overview", overview::page)
        .add(D, Method::GET, "/dead", dead::page)
        .add(D, Method::GET, "/audit", audit::page)
        .add(D, Method::GET, "/channels", channels::page)
        .add(
            D,
            Method::POST,
            "/channels/{channelId}/password",
            channels::set_password,
        )
        .add(D, Method::POST, "/dead/requeue", dead::requeue)
        .add(D, Method::POST, "/dead/discard", dead::discard)
        .add(D, Method::GET, "/connections/{connectionId}", pauses::page)
        .add(
            D,
            Method::POST,
            "/connections/{connectionId}/pause",
            pauses::pause_connection,
        )
        .add(
            D,
            Method::POST,
            "/connections/{connectionId}/resume",
            pauses::resume_connection,
        )
        .add(D, Method::POST, "/instance/pause", pauses::pause_instance)
        .add(D, Method::POST, "/instance/resume", pauses::resume_instance)
        .add(P, Method::GET, "/assets/dashboard.css", css)
        .add(P, Method::GET, "/assets/dashboard.js", js)
        .add(P, Method::GET, "/assets/theme.js", theme_js)
        .add(P, Method::GET, "/assets/favicon.svg", favicon)
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

/// The theme, applied before first paint (loaded blocking in `<head>`).
async fn theme_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/theme.js"),
    )
}

/// Named by every page, so the browser does not ask for a missing
/// `/favicon.ico` (a 404 in every page's console).
async fn favicon() -> Response {
    asset("image/svg+xml", include_str!("assets/favicon.svg"))
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

/// The sync service's refusals, as the API words them; another project's
/// sync is "not found in the projects this token may see".
impl From<crate::service::SyncError> for DashError {
    fn from(e: crate::service::SyncError) -> DashError {
        match e {
            crate::service::SyncError::NotFound(m) => {
                DashError::not_found(format!("{m} in the projects this token may see"))
            }
            e => DashError::from(crate::web::errors::ApiError::from(e)),
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
        if let QueueError::NoSuchDeadLetter { which, count } = &e {
            // Counts only the letters this caller may see (see dead.rs).
            return DashError::not_found(format!(
                "no dead letter at {which} among the {count} this token may see; reload the list"
            ));
        }
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
