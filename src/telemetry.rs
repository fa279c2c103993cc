//! Logs (human-readable text or JSON lines, filtered by RUST_LOG) and, when
//! the standard `OTEL_*` variables ask for it, traces exported over
//! OTLP/HTTP (protobuf).
//!
//! Trace export is on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and `OTEL_SDK_DISABLED` is not
//! `true`, `OTEL_TRACES_EXPORTER` not `none`). Then an OpenTelemetry layer
//! beside the log layer turns this crate's spans into OTLP spans; without
//! it no layer, exporter or thread exists, and the spans made only for
//! traces ([`SPANS`]) are disabled at their call sites. The SDK reads the
//! rest itself: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`,
//! `OTEL_BSP_*`.
//!
//! Across processes a trace goes on through the job message's W3C
//! `traceparent` header ([`traceparent_of`] when publishing,
//! [`continue_trace`] when running) and the API request's own.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::model::TraceParent;

/// The target of the spans made for traces only (an API request, a
/// publish, a Humanitec call, an outcome write): never in the logs, and
/// disabled at their call sites when nothing exports them.
pub(crate) const SPANS: &str = "secret_sync::spans";

/// Logs only (the demo, benchmarks, commands other than `run` and `api`).
pub fn init(format: &LogFormat, default_filter: &str) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(default_filter))
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // Already initialised (tests, demo): keep the first subscriber.
    drop(result);
}

/// RUST_LOG (or `default_filter`), the trace-only spans always left out.
fn log_filter(default_filter: &str) -> EnvFilter {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    match format!("{SPANS}=off").parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Logs, and traces when the `OTEL_*` variables ask for them, as
/// `service` unless `OTEL_SERVICE_NAME` (or `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`) names it. Call inside the Tokio runtime;
/// call [`Telemetry::shutdown`] before the process exits (it sends what
/// is still buffered).
pub fn init_service(format: &LogFormat, default_filter: &str, service: &str) -> Telemetry {
    let lookup = |name: &str| std::env::var(name).ok();
    match otel::provider(&lookup, service) {
        Ok(Some(provider)) => otel::install(format, default_filter, provider),
        Ok(None) => {
            init(format, default_filter);
            Telemetry::default()
        }
        Err(e) => {
            init(format, default_filter);
            tracing::warn!("trace export is off: {e}");
            Telemetry::default()
        }
    }
}

/// What [`init_service`] installed; shut it down before exiting.
#[derive(Default)]
#[must_use = "call shutdown() before exiting, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<otel::Provider>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter (at most a
    /// few seconds: a collector that is down does not hold the exit up).
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            otel::shutdown(provider).await;
        }
    }
}

/// The trace context of `span` as a W3C `traceparent` (for a message this
/// span publishes); `None` when traces are not exported.
pub(crate) fn traceparent_of(span: &tracing::Span) -> Option<TraceParent> {
    otel::traceparent_of(span)
}

/// Sets an attribute on `span`'s exported span only (not a log field).
/// Nothing when traces are not exported.
pub(crate) fn set_attribute(span: &tracing::Span, key: &'static str, value: String) {
    otel::set_attribute(span, key, value);
}

/// Makes `span` (not yet entered) a child of the remote span `parent`.
/// Nothing when traces are not exported.
pub(crate) fn continue_trace(span: &tracing::Span, parent: TraceParent) {
    otel::continue_trace(span, parent);
}

/// A build without trace export (the demo's library): nothing to install.
#[cfg(not(feature = "otel"))]
mod otel {
    use super::Telemetry;
    use crate::config::LogFormat;
    use crate::model::TraceParent;

    pub(super) type Provider = std::convert::Infallible;

    pub(super) fn provider(
        _: &dyn Fn(&str) -> Option<String>,
        _: &str,
    ) -> Result<Option<Provider>, String> {
        Ok(None)
    }

    pub(super) fn install(_: &LogFormat, _: &str, provider: Provider) -> Telemetry {
        match provider {}
    }

    pub(super) async fn shutdown(provider: Provider) {
        match provider {}
    }

    pub(super) fn traceparent_of(_: &tracing::Span) -> Option<TraceParent> {
        None
    }

    pub(super) fn continue_trace(_: &tracing::Span, _: TraceParent) {}

    pub(super) fn set_attribute(_: &tracing::Span, _: &'static str, _: String) {}
}

#[cfg(feature = "otel")]
mod otel {
    use std::time::Duration;

    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
    };
    use opentelemetry::KeyValue;
    use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
    use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    use super::{init, log_filter, Telemetry};
    use crate::config::LogFormat;
    use crate::model::TraceParent;

    /// The OTLP request's deadline unless `OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT` says (ms).
    const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long the exit waits for the last spans to go out.
    const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

    pub(super) type Provider = SdkTracerProvider;
    pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

    fn set(lookup: Lookup, name: &str) -> Option<String> {
        lookup(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Whether the variables ask for trace export; `Err` says which one
    /// asks for something this build cannot do.
    pub(super) fn export_wanted(lookup: Lookup) -> Result<bool, String> {
        if set(lookup, "OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(false);
        }
        if let Some(exporters) = set(lookup, "OTEL_TRACES_EXPORTER") {
            let names: Vec<&str> = exporters.split(',').map(str::trim).collect();
            if names.contains(&"none") {
                return Ok(false);
            }
            if let Some(other) = names.iter().find(|n| **n != "otlp") {
                return Err(format!(
                    "OTEL_TRACES_EXPORTER={other}: only `otlp` (or `none`) is supported"
                ));
            }
        }
        if set(lookup, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
            && set(lookup, "OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        {
            return Ok(false);
        }
        for var in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(protocol) = set(lookup, var) {
                if protocol != "http/protobuf" {
                    return Err(format!(
                        "{var}={protocol}: this build exports `http/protobuf` only \
                         (a collector's port 4318)"
                    ));
                }
            }
        }
        Ok(true)
    }

    /// The tracer provider the variables ask for, or `None` (nothing to
    /// install). Needs a Tokio runtime (the exporter's requests run on it).
    pub(super) fn provider(
        lookup: Lookup,
        service: &str,
    ) -> Result<Option<SdkTracerProvider>, String> {
        if !export_wanted(lookup)? {
            return Ok(None);
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "no Tokio runtime to send spans from".to_string())?;
        let timeout = [
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ]
        .iter()
        .find_map(|var| set(lookup, var)?.parse::<u64>().ok())
        .map_or(EXPORT_TIMEOUT, Duration::from_millis);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("secret-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the OTLP HTTP client: {e}"))?;
        // Endpoint, headers and timeout come from the variables, read by
        // the exporter itself.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(timeout)
            .with_http_client(ExportClient { http, runtime })
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource(lookup, service))
                .build(),
        ))
    }

    /// The SDK's resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES)
    /// with this process's name and version where those do not say.
    fn resource(lookup: Lookup, service: &str) -> Resource {
        let given = |key: &str| {
            set(lookup, "OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attrs| {
                attrs
                    .split(',')
                    .any(|kv| kv.split('=').next().map(str::trim) == Some(key))
            })
        };
        let mut resource = Resource::builder();
        if set(lookup, "OTEL_SERVICE_NAME").is_none() && !given("service.name") {
            resource = resource.with_service_name(service.to_string());
        }
        if !given("service.version") {
            resource = resource
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
        }
        resource.build()
    }

    /// Logs as [`init`] does, plus the OpenTelemetry layer: this crate's
    /// spans at `info` and above, never events (their messages are for
    /// the logs).
    pub(super) fn install(
        format: &LogFormat,
        default_filter: &str,
        provider: SdkTracerProvider,
    ) -> Telemetry {
        let logs = match format {
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr)
                .with_filter(log_filter(default_filter))
                .boxed(),
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(log_filter(default_filter))
                .boxed(),
        };
        let spans = tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span()
                && meta.target().starts_with("secret_sync")
                && *meta.level() <= tracing::Level::INFO
        });
        let traces = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("secret-sync"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false)
            .with_filter(spans);
        let installed = tracing_subscriber::registry()
            .with(logs)
            .with(traces)
            .try_init()
            .is_ok();
        if !installed {
            // A subscriber was there first (tests): export nothing.
            let _ = provider.shutdown();
            init(format, default_filter);
            return Telemetry::default();
        }
        tracing::info!("exporting traces over OTLP/HTTP");
        Telemetry {
            provider: Some(provider),
        }
    }

    pub(super) async fn shutdown(provider: SdkTracerProvider) {
        // The batch processor's thread sends the last batch through the
        // runtime, so wait for it off the runtime's threads.
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_WAIT));
        match tokio::time::timeout(SHUTDOWN_WAIT + Duration::from_secs(1), done).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("the last spans may not have been exported: {e}"),
            Ok(Err(e)) => tracing::warn!("the last spans may not have been exported: {e}"),
            Err(_) => tracing::warn!(
                "the last spans were not exported within {}s",
                SHUTDOWN_WAIT.as_secs()
            ),
        }
    }

    pub(super) fn traceparent_of(span: &tracing::Span) -> Option<TraceParent> {
        let cx = span.context();
        let ids = cx.span().span_context().clone();
        ids.is_valid().then(|| TraceParent {
            trace_id: u128::from_be_bytes(ids.trace_id().to_bytes()),
            parent_id: u64::from_be_bytes(ids.span_id().to_bytes()),
            flags: ids.trace_flags().to_u8(),
        })
    }

    pub(super) fn set_attribute(span: &tracing::Span, key: &'static str, value: String) {
        span.set_attribute(key, value);
    }

    pub(super) fn continue_trace(span: &tracing::Span, parent: TraceParent) {
        let remote = SpanContext::new(
            TraceId::from_bytes(parent.trace_id.to_be_bytes()),
            SpanId::from_bytes(parent.parent_id.to_be_bytes()),
            TraceFlags::new(parent.flags),
            true,
            TraceState::default(),
        );
        // Disabled (not exported) or already started: nothing to continue.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }

    /// The exporter's HTTP client: the process's reqwest, its requests
    /// run on the Tokio runtime (the SDK's batch thread has none).
    #[derive(Debug)]
    struct ExportClient {
        http: reqwest::Client,
        runtime: tokio::runtime::Handle,
    }

    #[async_trait::async_trait]
    impl HttpClient for ExportClient {
        async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
            let request = reqwest::Request::try_from(request)?;
            let http = self.http.clone();
            let (status, headers, body) = self
                .runtime
                .spawn(async move {
                    let response = http.execute(request).await?;
                    let status = response.status();
                    let headers = response.headers().clone();
                    let body = response.bytes().await?;
                    Ok::<_, reqwest::Error>((status, headers, body))
                })
                .await??;
            let mut response = Response::builder().status(status).body(body)?;
            *response.headers_mut() = headers;
            Ok(response)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            }
        }

        #[test]
        fn nothing_is_exported_unless_an_endpoint_is_set() {
            assert_eq!(export_wanted(&vars(&[])), Ok(false));
            assert_eq!(
                export_wanted(&vars(&[
                    ("OTEL_SERVICE_NAME", "x"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", " ")
                ])),
                Ok(false)
            );
            assert_eq!(
                export_wanted(&vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])),
                Ok(true)
            );
            assert_eq!(
                export_wanted(&vars(&[(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://c:4318/v1/traces"
                )])),
                Ok(true)
            );
        }

        #[test]
        fn the_sdk_can_be_turned_off_and_only_otlp_http_protobuf_is_offered() {
            let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
            assert_eq!(
                export_wanted(&vars(&[on, ("OTEL_SDK_DISABLED", "TRUE")])),
                Ok(false)
            );
            assert_eq!(
                export_wanted(&vars(&[on, ("OTEL_SDK_DISABLED", "false")])),
                Ok(true)
            );
            assert_eq!(
                export_wanted(&vars(&[on, ("OTEL_TRACES_EXPORTER", "none")])),
                Ok(false)
            );
            assert_eq!(
                export_wanted(&vars(&[on, ("OTEL_TRACES_EXPORTER", "otlp")])),
                Ok(true)
            );
            let zipkin = export_wanted(&vars(&[on, ("OTEL_TRACES_EXPORTER", "zipkin")]));
            assert!(zipkin.is_err_and(|e| e.contains("OTEL_TRACES_EXPORTER=zipkin")));
            let grpc = export_wanted(&vars(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]));
            assert!(grpc.is_err_and(|e| e.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc")));
            let proto = ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
            assert_eq!(export_wanted(&vars(&[on, proto])), Ok(true));
        }

        #[test]
        fn unset_no_provider_is_built_so_nothing_is_installed() {
            // No runtime needed either: nothing is started.
            assert!(matches!(
                provider(&vars(&[]), "secret-sync-worker"),
                Ok(None)
            ));
        }

        #[tokio::test]
        async fn set_a_provider_is_built_without_reaching_the_collector() {
            let lookup = vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")]);
            let built = provider(&lookup, "secret-sync-worker").expect("built");
            let provider = built.expect("a provider");
            tokio::task::spawn_blocking(move || provider.shutdown())
                .await
                .expect("joined")
                .expect("shut down");
        }

        #[test]
        fn a_span_continues_a_traceparent_and_hands_its_own_on() {
            let parent =
                TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                    .expect("valid");
            let provider = SdkTracerProvider::builder().build();
            let traced = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
            tracing::subscriber::with_default(traced, || {
                let span = tracing::info_span!("job");
                continue_trace(&span, parent);
                let own = traceparent_of(&span).expect("an exported span");
                assert_eq!(own.trace_id, parent.trace_id);
                assert_ne!(own.parent_id, parent.parent_id);
                assert_eq!(own.flags, 1, "sampled, as its parent");
                assert_eq!(traceparent_of(&tracing::Span::none()), None);
            });
            // No OpenTelemetry layer (export off): nothing to hand on.
            tracing::subscriber::with_default(tracing_subscriber::registry(), || {
                let span = tracing::info_span!("job");
                continue_trace(&span, parent);
                assert_eq!(traceparent_of(&span), None);
            });
        }
    }
}
