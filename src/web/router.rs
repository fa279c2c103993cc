//! The one router, mounting the API's routes and the dashboard's pages, and
//! the layers every request passes through: request ids, security headers,
//! the body limit, panics turned into 500s, JSON 404/405s.

use axum::extract::{DefaultBodyLimit, Request};
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

/// Every route the router serves (API, dashboard and public).
fn all_routes() -> Routes {
    Routes::new()
        .add(Area::Public, Method::GET, "/healthz", || async { "ok" })
        .merge(api::routes())
        .merge(dashboard::routes())
}

/// What `router` mounts, for tests that must cover every route.
pub fn route_table() -> Vec<RouteInfo> {
    all_routes().table
}

pub fn router(state: ApiState) -> Router {
    all_routes()
        .router
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
        .layer(middleware::from_fn(with_request_id))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}; see /api/openapi.json",
        request.method(),
        shorten(request.uri().path())
    ))
}

/// Gives every request an id, shown in error bodies, logs and `x-request-id`.
async fn with_request_id(request: Request, next: Next) -> Response {
    let id = new_req_id();
    let mut response = REQ_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
