//! `secret-sync api`: serves the HTTP API until SIGTERM or SIGINT.

use tokio_util::sync::CancellationToken;

use super::CliResult;
use crate::config::Settings;
use crate::web::{router, sweep_expired_sessions, ApiState};

pub async fn run_api(settings: Settings) -> CliResult {
    let listen = settings.api_listen;
    let state = ApiState::build(&settings).await?;
    let listener = crate::http::listen(listen)
        .map_err(|e| format!("cannot listen on API_LISTEN {listen}: {e}"))?;
    tracing::info!(%listen, "API on http://{listen}/api/v1/…, document at /api/openapi.json");
    let shutdown = CancellationToken::new();
    tokio::spawn(super::run::cancel_on_signal(shutdown.clone()));
    tokio::spawn(sweep_expired_sessions(state.clone(), shutdown.clone()));
    let limits = settings.http_limits.clone();
    tracing::info!(?limits, "connection limits");
    let on_timeout = std::sync::Arc::new(crate::web::request_timeout_answer);
    crate::http::serve_with(listener, router(state), limits, on_timeout, shutdown).await?;
    tracing::info!("API stopped");
    Ok(())
}
