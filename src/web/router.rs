//! The one router, mounting the API's routes and the dashboard's pages, and
//! the layers every request passes through: request ids, security headers,
//! the body limit, panics turned into 500s, JSON 404/405s.

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use super::api::validation::BODY_LIMIT;
use super::errors::{new_req_id, shorten, ApiError, REQ_ID};
use super::routes::{Area, RouteInfo, Routes};
use super::state::ApiState;
use super::{api, dashboard, headers};
use crate::http::Metrics;

/// Every route the router serves (API, dashboard and public).
fn all_routes() -> Routes {
    Routes::new()
        .add(Area::Public, Method::GET, "/healthz", || async { "ok" })
        .add(Area::Public, Method::GET, "/readyz", ready)
        .merge(api::routes())
        .merge(dashboard::routes())
}

/// What `router` mounts, for tests that must cover every route.
pub fn route_table() -> Vec<RouteInfo> {
    all_routes().table
}

pub fn router(state: ApiState) -> Router {
    let metrics = state.metrics.clone();
    all_routes()
        .router
        // Inside routing: the template the request matched, for the
        // metrics and the access log (the outer layer sees no route).
        .route_layer(middleware::from_fn(mark_route))
        // A span per request, for traces (nothing when none are exported).
        .route_layer(middleware::from_fn(super::traced::request_span))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("the request could not be completed", &"a handler panicked")
                    .into_response()
            },
        ))
        .layer(middleware::from_fn(headers::security_headers))
        .layer(middleware::from_fn_with_state(metrics, with_request_id))
}

/// `/readyz` on the API's port: the database (and its schema) and the
/// broker, as on `HTTP_LISTEN` (one readiness rule for both).
async fn ready(State(state): State<ApiState>) -> Response {
    let broker = crate::http::BrokerReadiness::Link(state.link().clone());
    crate::http::readiness(&state.store, &broker).await
}

/// The template of the route a request matched (set by `mark_route`).
#[derive(Clone)]
struct RouteTemplate(String);

async fn mark_route(request: Request, next: Next) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let mut response = next.run(request).await;
    if let Some(template) = template {
        response.extensions_mut().insert(RouteTemplate(template));
    }
    response
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}; see /api/openapi.json",
        request.method(),
        shorten(request.uri().path())
    ))
}

/// Gives every request an id (a valid one from the caller's proxy is
/// kept), shown in error bodies, logs and `x-request-id`; counts it in the
/// metrics and writes its access-log line.
async fn with_request_id(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_acceptable_request_id(v))
        .map_or_else(new_req_id, str::to_string);
    let method = request.method().clone();
    let mut response = REQ_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or("unmatched", |r| r.0.as_str());
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    metrics.record_http(method.as_str(), route, status, seconds);
    let bytes = response
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    tracing::info!(target: "access", reqId = %id, method = %method, route, status,
        duration_ms = (seconds * 1000.0).round() as u64, bytes, "request");
    response
}

/// A request id from outside is kept only if it is short and plain (it
/// reaches logs and a response header): letters, digits, `-`, `_`, `.`,
/// `:`, at most 128.
fn is_acceptable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::is_acceptable_request_id;

    #[test]
    fn a_proxys_request_id_is_kept_only_when_short_and_plain() {
        for ok in ["req-1", "4bf92f3577b34da6a3ce929d0e0e4736", "a.b:c_d-e"] {
            assert!(is_acceptable_request_id(ok), "{ok}");
        }
        let long = "x".repeat(129);
        for bad in [
            "",
            "a b",
            "a\nb",
            "a\r\nx-admin: 1",
            "a\u{202e}b",
            "../..",
            "%2e",
            "a\0b",
            long.as_str(),
        ] {
            assert!(!is_acceptable_request_id(bad), "{bad:?}");
        }
    }
}
