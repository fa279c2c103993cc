//! The JSON API: the seed's Secret Sync API and the App Connection API,
//! with their request validation and the served OpenAPI document.

mod connections;
pub mod openapi;
mod preview;
mod syncs;
pub(super) mod validation;

use axum::http::Method;

use super::routes::{Area, Routes};

const SYNCS: &str = "/api/v1/secret-syncs/humanitec";
const CONNECTIONS: &str = "/api/v1/app-connections/humanitec";

pub fn routes() -> Routes {
    let sync = |rest: &str| format!("{SYNCS}/{{syncId}}{rest}");
    let conn = format!("{CONNECTIONS}/{{connectionId}}");
    Routes::new()
        .add(
            Area::Public,
            Method::GET,
            "/api/openapi.json",
            openapi::serve_document,
        )
        .add(Area::Api, Method::POST, SYNCS, syncs::create)
        .add(Area::Api, Method::GET, SYNCS, syncs::list)
        .add(Area::Api, Method::GET, &sync(""), syncs::get)
        .add(Area::Api, Method::PATCH, &sync(""), syncs::update)
        .add(Area::Api, Method::DELETE, &sync(""), syncs::delete)
        .add(
            Area::Api,
            Method::POST,
            &sync("/sync-secrets"),
            syncs::sync_secrets,
        )
        .add(
            Area::Api,
            Method::POST,
            &sync("/import-secrets"),
            syncs::import_secrets,
        )
        .add(
            Area::Api,
            Method::POST,
            &sync("/remove-secrets"),
            syncs::remove_secrets,
        )
        .add(Area::Api, Method::GET, &sync("/preview"), preview::preview)
        .add(Area::Api, Method::POST, CONNECTIONS, connections::create)
        .add(Area::Api, Method::GET, CONNECTIONS, connections::list)
        .add(Area::Api, Method::GET, &conn, connections::get)
        .add(Area::Api, Method::PATCH, &conn, connections::update)
        .add(Area::Api, Method::DELETE, &conn, connections::delete)
}
