//! `/healthz` (the process runs), `/readyz` (database reachable and its
//! schema current, broker reachable), `/metrics` (Prometheus). Served on
//! `HTTP_LISTEN` by the worker and the API alike (loopback by default); the
//! API also answers `/healthz` and `/readyz` on its own port. `/readyz`
//! says which dependency is not ready, never where it is (no host, port or
//! URL: the broker node is in `/metrics` for the operator).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::Metrics;
use crate::queue::Link;
use crate::store::Store;

/// How a process knows it can reach RabbitMQ.
#[derive(Clone)]
pub enum BrokerReadiness {
    /// The worker: its session is consuming.
    Consuming(Arc<AtomicBool>),
    /// The API: its one broker connection is up (or opens within a moment,
    /// at the link's own pace).
    Link(Link),
}

#[derive(Clone)]
pub struct HealthState {
    pub store: Store,
    pub broker: BrokerReadiness,
    pub metrics: Metrics,
    /// The API's live-session gauge, read at scrape time (`None`: the worker).
    pub sessions: Option<LiveSessions>,
}

/// The gauge of live dashboard sessions, counted in Postgres when
/// `/metrics` is scraped (so every API replica reports the sessions of all
/// of them, and sign-ins, sign-outs and expiry on any replica show), at
/// most once per `every` (`METRICS_REFRESH`) however often it is scraped.
/// A database that does not answer in a second leaves the last count: the
/// scrape itself always answers.
#[derive(Clone)]
pub struct LiveSessions {
    store: Store,
    idle_timeout: Duration,
    every: Duration,
    /// When the count was last read; held across the read, so concurrent
    /// scrapes make one query.
    read_at: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

/// How long a scrape waits for the session count.
const SESSION_COUNT_WAIT: Duration = Duration::from_secs(1);

impl LiveSessions {
    pub fn new(store: Store, idle_timeout: Duration, every: Duration) -> LiveSessions {
        LiveSessions {
            store,
            idle_timeout,
            every,
            read_at: Default::default(),
        }
    }

    async fn refresh(&self, metrics: &Metrics) {
        let mut read_at = self.read_at.lock().await;
        if read_at.is_some_and(|at| at.elapsed() < self.every) {
            return;
        }
        let count = self.store.auth.live_session_total(self.idle_timeout);
        match tokio::time::timeout(SESSION_COUNT_WAIT, count).await {
            Ok(Ok(n)) => {
                metrics.set_dashboard_sessions(n);
                *read_at = Some(Instant::now());
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "live sessions not counted"),
            Err(_) => tracing::debug!("live sessions not counted: the database is slow"),
        }
    }
}

pub fn health_router(state: HealthState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(state): State<HealthState>| async move {
                readiness(&state.store, &state.broker).await
            }),
        )
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// How long the probe waits for a broker connection attempt in flight.
const BROKER_PROBE_WAIT: Duration = Duration::from_millis(500);

/// The one readiness answer: 200 when the database answers with its schema
/// at this build's migrations and the broker is reachable, else 503; the
/// body says which (`{"database", "migrations", "broker"}`).
pub async fn readiness(store: &Store, broker: &BrokerReadiness) -> Response {
    let database = store.ping().await.is_ok();
    let migrations = database && store.schema_current().await.unwrap_or(false);
    let broker = match broker {
        BrokerReadiness::Consuming(flag) => flag.load(Ordering::Relaxed),
        BrokerReadiness::Link(link) => link.broker(BROKER_PROBE_WAIT).await.is_ok(),
    };
    let status = if database && migrations && broker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "database": database,
            "migrations": migrations,
            "broker": broker,
        })),
    )
        .into_response()
}

async fn metrics(State(state): State<HealthState>) -> impl IntoResponse {
    if let Some(sessions) = &state.sessions {
        sessions.refresh(&state.metrics).await;
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
