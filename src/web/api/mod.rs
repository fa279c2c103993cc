//! The JSON API: the seed's Secret Sync API and the App Connection API,
//! with their request validation and the served OpenAPI document.

mod connections;
pub mod openapi;
mod preview;
mod syncs;
pub(super) mod validation;

use axum::routing::{get, post};
use axum::Router;

use super::state::ApiState;

const SYNCS: &str = "/api/v1/secret-syncs/humanitec";
const CONNECTIONS: &str = "/api/v1/app-connections/humanitec";

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/openapi.json", get(openapi::serve_document))
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
}
