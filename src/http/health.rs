//! `/healthz` (the process runs), `/readyz` (database and broker reachable),
//! `/metrics` (Prometheus). Served on `HTTP_LISTEN`, loopback by default.
//! `/readyz` says which dependency is not ready, never where it is (no
//! host, port or URL: the broker node is in `/metrics` for the operator).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::Metrics;
use crate::store::Store;

#[derive(Clone)]
pub struct HealthState {
    pub store: Store,
    pub broker_connected: Arc<AtomicBool>,
    pub metrics: Metrics,
}

pub fn health_router(state: HealthState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn ready(State(state): State<HealthState>) -> impl IntoResponse {
    let database = state.store.ping().await.is_ok();
    let broker = state.broker_connected.load(Ordering::Relaxed);
    let status = if database && broker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "database": database,
            "broker": broker,
        })),
    )
}

async fn metrics(State(state): State<HealthState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
