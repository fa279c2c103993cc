//! HTTP surfaces: the worker's health and metrics endpoints, and the API.

pub mod health;
pub mod metrics;

pub use health::{health_router, HealthState};
pub use metrics::Metrics;

/// Serves `router` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
