//! Routes, shared state and the layers every request passes through:
//! request ids, the body limit, panics turned into 500s, JSON 404/405s.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use super::errors::{new_req_id, ApiError, REQ_ID};
use super::openapi::Validators;
use super::validation::BODY_LIMIT;
use super::{connections, preview, syncs};
use crate::crypto::Cipher;
use crate::enqueue::JobClient;
use crate::humanitec::HumanitecClient;
use crate::store::Store;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub jobs: Arc<JobClient>,
    pub cipher: Cipher,
    pub humanitec: HumanitecClient,
    pub validators: Arc<Validators>,
    /// What the ops dashboard (`src/dashboard/`) needs beyond the API's state.
    pub dashboard: Arc<crate::dashboard::DashConfig>,
}

const SYNCS: &str = "/api/v1/secret-syncs/humanitec";
const CONNECTIONS: &str = "/api/v1/app-connections/humanitec";

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/openapi.json", get(super::openapi::serve_document))
        .route("/healthz", get(|| async { "ok" }))
        .route(SYNCS, post(syncs::create).get(syncs::list))
        .route(
            &format!("{SYNCS}/{{syncId}}"),
            get(syncs::get).patch(syncs::update).delete(syncs::delete),
        )
        .route(
            &format!("{SYNCS}/{{syncId}}/sync-secrets"),
            post(syncs::sync_secrets),
        )
        .route(
            &format!("{SYNCS}/{{syncId}}/import-secrets"),
            post(syncs::import_secrets),
        )
        .route(
            &format!("{SYNCS}/{{syncId}}/remove-secrets"),
            post(syncs::remove_secrets),
        )
        .route(
            &format!("{SYNCS}/{{syncId}}/preview"),
            get(preview::preview),
        )
        .route(
            CONNECTIONS,
            post(connections::create).get(connections::list),
        )
        .route(
            &format!("{CONNECTIONS}/{{connectionId}}"),
            get(connections::get)
                .patch(connections::update)
                .delete(connections::delete),
        )
        .merge(crate::dashboard::routes())
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
        .layer(middleware::from_fn(with_request_id))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}; see /api/openapi.json",
        request.method(),
        super::validation::shorten(request.uri().path())
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
