//! `secret-sync run`: the worker with its health and metrics endpoints,
//! stopped gracefully by SIGTERM or SIGINT.

use tokio_util::sync::CancellationToken;

use super::CliResult;
use crate::config::Settings;
use crate::worker::{self, Shared};

pub async fn run_worker(settings: Settings) -> CliResult {
    let listen = settings.worker.http_listen;
    let shared = Shared::build(settings).await?;
    let shutdown = CancellationToken::new();
    let listener = crate::http::listen(listen).map_err(|source| worker::WorkerError::Listen {
        addr: listen,
        source,
    })?;
    tracing::info!(%listen, "health and metrics on http://{listen}/healthz, /readyz, /metrics");
    let router = crate::http::health_router(crate::http::HealthState {
        store: shared.store.clone(),
        broker: crate::http::BrokerReadiness::Consuming(shared.broker_connected.clone()),
        metrics: shared.metrics.clone(),
        sessions: None,
    });
    let http = tokio::spawn(crate::http::serve_with(
        listener,
        router,
        shared.settings.http_limits.clone(),
        crate::http::plain_timeout_answer(),
        shutdown.clone(),
    ));
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    worker::run(shared, shutdown.clone()).await?;
    shutdown.cancel();
    let _ = http.await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Cancels `token` on SIGTERM or SIGINT.
pub(super) async fn cancel_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested; finishing in-flight jobs");
    token.cancel();
}
