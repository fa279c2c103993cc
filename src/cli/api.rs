//! `secret-sync api`: serves the HTTP API until SIGTERM or SIGINT.

use tokio_util::sync::CancellationToken;

use super::CliResult;
use crate::config::Settings;
use crate::engine::maintenance::sweeper::{Sweeper, SweeperConfig};
use crate::web::{router, ApiState};

pub async fn run_api(settings: Settings) -> CliResult {
    let listen = settings.api_listen;
    let state = ApiState::build(&settings).await?;
    let listener = crate::http::listen(listen)
        .map_err(|e| format!("cannot listen on API_LISTEN {listen}: {e}"))?;
    tracing::info!(%listen, "API on http://{listen}/api/v1/…, document at /api/openapi.json");
    let shutdown = CancellationToken::new();
    tokio::spawn(super::run::cancel_on_signal(shutdown.clone()));
    let sweeper = Sweeper::new(SweeperConfig::from_settings(&settings), state.store.clone())?
        .start(&shutdown);
    let limits = settings.http_limits.clone();
    tracing::info!(?limits, "connection limits");
    // Probes and metrics on HTTP_LISTEN, as the worker serves them (the
    // API's own port answers /healthz and /readyz too, never /metrics).
    let health_listen = settings.worker.http_listen;
    let health_listener = crate::http::listen(health_listen).map_err(|e| {
        format!("cannot listen on HTTP_LISTEN {health_listen} (health and metrics): {e}; a worker on this host may hold it: give one of them another HTTP_LISTEN")
    })?;
    tracing::info!(%health_listen, "health and metrics on http://{health_listen}/healthz, /readyz, /metrics");
    let health = tokio::spawn(crate::http::serve_with(
        health_listener,
        crate::http::health_router(crate::http::HealthState {
            store: state.store.clone(),
            broker: crate::http::BrokerReadiness::Link(state.link().clone()),
            metrics: state.metrics.clone(),
            sessions: Some(crate::http::LiveSessions::new(
                state.store.clone(),
                settings.session.idle_timeout,
                settings.worker.metrics_refresh,
            )),
        }),
        limits.clone(),
        crate::http::plain_timeout_answer(),
        shutdown.clone(),
    ));
    let on_timeout = std::sync::Arc::new(crate::web::request_timeout_answer);
    let served = crate::http::serve_with(
        listener,
        router(state),
        limits,
        on_timeout,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    let _ = health.await;
    sweeper.stop().await;
    served?;
    tracing::info!("API stopped");
    Ok(())
}
