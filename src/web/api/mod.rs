//! The JSON API: the seed's Secret Sync API and the App Connection API,
//! with their request validation and the served OpenAPI document.

mod audit;
mod channels;
mod connections;
mod history;
mod lookups;
pub mod openapi;
mod organizations;
mod pauses;
mod preview;
mod syncs;
pub(super) mod validation;

use axum::http::Method;

use super::routes::{Area, Routes};

const SYNCS: &str = "/api/v1/secret-syncs/humanitec";
const CONNECTIONS: &str = "/api/v1/app-connections/humanitec";
/// Infisical's generic paths (every destination, every app).
const ALL_SYNCS: &str = "/api/v1/secret-syncs";
const ALL_CONNECTIONS: &str = "/api/v1/app-connections";
const AUDIT_LOGS: &str = "/api/v1/audit-logs";
const CHANNELS: &str = "/api/v1/notification-channels";
const PAUSES: &str = "/api/v1/pauses";
const INSTANCE: &str = "/api/v1/instance";

pub fn routes() -> Routes {
    let sync = |rest: &str| format!("{SYNCS}/{{syncId}}{rest}");
    let conn = format!("{CONNECTIONS}/{{connectionId}}");
    let channel = |rest: &str| format!("{CHANNELS}/{{channelId}}{rest}");
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
        .add(Area::Api, Method::GET, &sync("/jobs"), history::list)
        .add(Area::Api, Method::GET, &sync("/jobs/{jobId}"), history::get)
        .add(Area::Api, Method::GET, AUDIT_LOGS, audit::list)
        .add(Area::Api, Method::POST, CHANNELS, channels::create)
        .add(Area::Api, Method::GET, CHANNELS, channels::list)
        .add(Area::Api, Method::GET, &channel(""), channels::get)
        .add(Area::Api, Method::PATCH, &channel(""), channels::update)
        .add(Area::Api, Method::DELETE, &channel(""), channels::delete)
        .add(
            Area::Api,
            Method::GET,
            &channel("/deliveries"),
            channels::deliveries,
        )
        .add(Area::Api, Method::POST, CONNECTIONS, connections::create)
        .add(Area::Api, Method::GET, CONNECTIONS, connections::list)
        .add(Area::Api, Method::GET, &conn, connections::get)
        .add(Area::Api, Method::PATCH, &conn, connections::update)
        .add(Area::Api, Method::DELETE, &conn, connections::delete)
        // Holding Humanitec writes (issue 41).
        .add(Area::Api, Method::GET, PAUSES, pauses::list)
        .add(
            Area::Api,
            Method::POST,
            &format!("{conn}/pause"),
            pauses::pause_connection,
        )
        .add(
            Area::Api,
            Method::POST,
            &format!("{conn}/resume"),
            pauses::resume_connection,
        )
        .add(
            Area::Api,
            Method::POST,
            &format!("{INSTANCE}/pause"),
            pauses::pause_instance,
        )
        .add(
            Area::Api,
            Method::POST,
            &format!("{INSTANCE}/resume"),
            pauses::resume_instance,
        )
        // Infisical's look-ups, catalogues and generic lists (issue 20).
        .add(
            Area::Api,
            Method::GET,
            &format!("{SYNCS}/sync-name/{{syncName}}"),
            lookups::sync_by_name,
        )
        .add(
            Area::Api,
            Method::POST,
            &format!("{SYNCS}/check-destination"),
            lookups::check_destination,
        )
        .add(Area::Api, Method::GET, ALL_SYNCS, syncs::list)
        .add(
            Area::Api,
            Method::GET,
            &format!("{ALL_SYNCS}/options"),
            lookups::sync_options,
        )
        .add(Area::Api, Method::GET, ALL_CONNECTIONS, connections::list)
        .add(
            Area::Api,
            Method::GET,
            &format!("{ALL_CONNECTIONS}/options"),
            lookups::connection_options,
        )
        .add(
            Area::Api,
            Method::GET,
            &format!("{CONNECTIONS}/connection-name/{{connectionName}}"),
            lookups::connection_by_name,
        )
        .add(
            Area::Api,
            Method::GET,
            &format!("{CONNECTIONS}/available"),
            connections::available,
        )
        .add(
            Area::Api,
            Method::GET,
            &format!("{conn}/organizations"),
            organizations::organizations,
        )
}
