//! Each request the router serves is a span of a trace (exported only when
//! traces are, see `telemetry`): named by its route's template, never the
//! path sent, and continued from the caller's W3C `traceparent` header.
//! Probes (`/healthz`, `/readyz`) make none: a trace every few seconds per
//! pod would bury the ones that matter.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::field::Empty;
use tracing::Instrument;

use crate::model::TraceParent;

/// Inside routing (the matched template is known there).
pub(super) async fn request_span(request: Request, next: Next) -> Response {
    let method = request.method().as_str();
    let span = match request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        Some("/healthz" | "/readyz") | None => tracing::Span::none(),
        Some(route) => tracing::info_span!(target: crate::telemetry::SPANS, "request",
            otel.name = %format_args!("{method} {route}"), otel.kind = "server",
            http.request.method = method, http.route = route,
            http.response.status_code = Empty, otel.status_code = Empty),
    };
    if span.is_disabled() {
        return next.run(request).await;
    }
    let parent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    if let Some(parent) = parent {
        crate::telemetry::continue_trace(&span, parent);
    }
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
    response
}
