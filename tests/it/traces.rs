//! OpenTelemetry traces as a collector receives them: an OTLP/HTTP
//! receiver inside the test, the API and the worker as real processes
//! pointed at it with the standard `OTEL_*` variables. One API trigger is
//! one trace: the request, the publish, the worker's job, each Humanitec
//! call and the outcome write, across the two processes through the
//! message's `traceparent`, and no secret anywhere in it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::json;
use uuid::Uuid;

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");

/// One span as received, flattened with its resource.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    resource: HashMap<String, String>,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent: String,
    attrs: HashMap<String, String>,
    /// Every text in the span: name, attribute values, events.
    texts: Vec<String>,
}

#[derive(Default)]
struct Inbox {
    spans: Vec<Received>,
    /// The `x-collector-key` header of each export request.
    keys: Vec<Option<String>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<&Any>) -> String {
    match value {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
            (kv.key.clone(), text(value))
        })
        .collect()
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (axum::http::StatusCode, Vec<u8>) {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (axum::http::StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut inbox = inbox.lock().expect("inbox");
    inbox.keys.push(
        headers
            .get("x-collector-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    );
    for rs in request.resource_spans {
        let resource = rs
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            let attrs = attributes(&span.attributes);
            let mut texts = vec![span.name.clone()];
            texts.extend(attrs.values().cloned());
            for event in &span.events {
                texts.push(event.name.clone());
                texts.extend(attributes(&event.attributes).into_values());
            }
            inbox.spans.push(Received {
                service: service.clone(),
                resource: resource.clone(),
                name: span.name,
                kind: span.kind,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent: hex(&span.parent_span_id),
                attrs,
                texts,
            });
        }
    }
    // An empty ExportTraceServiceResponse: full success.
    (axum::http::StatusCode::OK, Vec::new())
}

/// An OTLP/HTTP (protobuf) trace receiver on a free port.
async fn otlp_receiver() -> (String, Arc<Mutex<Inbox>>) {
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let router = axum::Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), inbox)
}

/// The OpenTelemetry export threads of a process (the SDK's batch
/// processor runs on a thread named `OpenTelemetry.Traces.BatchProcessor`).
fn export_threads(process: &WorkerProcess) -> usize {
    let pid = process.pid().expect("running");
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("/proc")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("OpenTelemetry"))
        .count()
}

/// POSTs the trigger of `sync` to the API process; returns the job id.
async fn trigger(api: &WorkerProcess, sync: Uuid, token: &str, traceparent: Option<&str>) -> Uuid {
    let mut request = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v1/secret-syncs/humanitec/{sync}/sync-secrets",
            api.http
        ))
        .bearer_auth(token)
        .json(&json!({}));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.expect("the API answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["secretSync"]["lastSyncJobId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the queued job: {body}"))
}

fn log_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("traces-{name}-{}.log", Uuid::new_v4()))
}

/// Starts the API and a worker with `vars`; returns them once ready.
async fn start_both(env: &TestEnv, vars: &[(&str, String)]) -> (WorkerProcess, WorkerProcess) {
    let api = WorkerProcess::spawn_with(EXE, &["api"], &env.settings, vars, &log_path("api"));
    let worker = WorkerProcess::spawn(EXE, &env.settings, vars, &log_path("worker"));
    api.wait_ready_status(200, Duration::from_secs(30)).await;
    worker.wait_ready_status(200, Duration::from_secs(30)).await;
    (api, worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_api_trigger_is_one_trace_across_api_worker_and_humanitec_with_no_secret_in_it() {
    let env = TestEnv::new().await;
    let secrets = [
        ("DB_PASSWORD", "trace-secret-4f1c9e-db"),
        ("STRIPE_KEY", "trace-secret-77ab20-stripe"),
    ];
    let src = env.source("production", &secrets).await;
    let sync = env.sync(&src, "traced", app_scope("api"), options()).await;
    let token = env.api_token(&[&src.project], "write").await;
    let (collector, inbox) = otlp_receiver().await;

    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.clone()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=k-1".into()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=traces-test".into(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on".into()),
    ];
    let (mut api, mut worker) = start_both(&env, &vars).await;
    assert_eq!(export_threads(&api), 1);
    assert_eq!(export_threads(&worker), 1);
    env.sandbox.clear_requests();

    // The caller's own trace: the API continues it.
    let trace_id = format!("{:032x}", Uuid::new_v4().as_u128());
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let job = trigger(&api, sync, &token, Some(&traceparent)).await;
    let job_id = job.to_string();
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    let humanitec_calls = env.sandbox.requests();
    assert!(!humanitec_calls.is_empty());

    // Every span of the trace, once the batch processors have sent them.
    let spans = eventually(Duration::from_secs(20), || async {
        let spans: Vec<Received> = inbox
            .lock()
            .expect("inbox")
            .spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        let count = |name: &str| spans.iter().filter(|s| s.name.starts_with(name)).count();
        let complete = count("POST /api/v1/secret-syncs/humanitec/{syncId}/sync-secrets") == 1
            && count("publish") == 1
            && count("job") == 1
            && count("record outcome") == 1
            && spans
                .iter()
                .filter(|s| s.attrs.contains_key("url.template"))
                .count()
                == humanitec_calls.len();
        seen(spans, |_| complete)
    })
    .await;
    let one = |name: &str| {
        spans
            .iter()
            .find(|s| s.name.starts_with(name))
            .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
    };
    let request = one("POST /api/v1/secret-syncs/humanitec/{syncId}/sync-secrets");
    let publish = one("publish");
    let job_span = one("job");
    let write = one("record outcome");
    let calls: Vec<&Received> = spans
        .iter()
        .filter(|s| s.attrs.contains_key("url.template"))
        .collect();

    // Two services, told apart by name; the resource variables honoured.
    for s in [request, publish] {
        assert_eq!(s.service, "secret-sync-api", "{s:#?}");
    }
    for s in calls.iter().copied().chain([job_span, write]) {
        assert_eq!(s.service, "secret-sync-worker", "{s:#?}");
    }
    for s in &spans {
        assert_eq!(
            s.resource
                .get("deployment.environment.name")
                .map(String::as_str),
            Some("traces-test"),
            "{s:#?}"
        );
    }
    assert!(
        inbox
            .lock()
            .expect("inbox")
            .keys
            .iter()
            .all(|k| k.as_deref() == Some("k-1")),
        "OTEL_EXPORTER_OTLP_HEADERS is sent with every export"
    );

    // One tree: caller -> request -> publish -> job -> calls and the write.
    assert_eq!(request.parent, caller_span);
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(
        request.attrs["http.route"],
        "/api/v1/secret-syncs/humanitec/{syncId}/sync-secrets"
    );
    assert_eq!(request.attrs["http.response.status_code"], "200");
    assert_eq!(publish.parent, request.span_id);
    assert_eq!(publish.kind, SpanKind::Producer as i32);
    assert_eq!(job_span.parent, publish.span_id);
    assert_eq!(write.parent, job_span.span_id);
    for call in &calls {
        assert_eq!(call.parent, job_span.span_id, "{call:#?}");
        assert_eq!(call.kind, SpanKind::Client as i32);
    }

    // The attributes an operator filters on.
    let sync_id = sync.to_string();
    for s in [publish, job_span, write] {
        assert_eq!(s.attrs["sync_id"], sync_id, "{s:#?}");
        assert_eq!(s.attrs["job_id"], job_id, "{s:#?}");
    }
    assert_eq!(publish.attrs["job_type"], "sync");
    assert_eq!(job_span.attrs["job_type"], "sync");
    assert_eq!(job_span.attrs["outcome"], "succeeded");
    assert_eq!(write.attrs["outcome"], "succeeded");
    let mut statuses: Vec<(String, String)> = calls
        .iter()
        .map(|c| {
            (
                c.attrs["http.request.method"].clone(),
                c.attrs["http.response.status_code"].clone(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String)> = humanitec_calls
        .iter()
        .map(|r| (r.method.clone(), r.status.to_string()))
        .collect();
    statuses.sort();
    expected.sort();
    assert_eq!(
        statuses, expected,
        "one span per Humanitec request, with its status"
    );
    for call in &calls {
        assert!(
            call.attrs["url.template"].starts_with("/orgs/{orgId}/apps/{appId}"),
            "{call:#?}"
        );
    }

    // Nothing secret in any span either process sent: no secret value,
    // key name in a URL, API token, Humanitec token, encryption key or
    // URL with credentials.
    let all = inbox.lock().expect("inbox").spans.clone();
    let mut forbidden: Vec<String> = secrets.iter().map(|(_, v)| v.to_string()).collect();
    forbidden.extend([
        token.clone(),
        ADMIN_TOKEN.to_string(),
        env.settings.encryption_key.clone().unwrap_or_default(),
        env.settings.amqp_url.clone(),
        env.settings.database_url.clone(),
        "guest:guest".to_string(),
        "DB_PASSWORD".to_string(),
    ]);
    for s in &all {
        for text in s.texts.iter().chain(s.resource.values()) {
            for bad in &forbidden {
                assert!(!text.contains(bad.as_str()), "{bad:?} in {s:#?}");
            }
            assert!(!text.contains("Bearer"), "{s:#?}");
        }
    }

    // A clean exit sends what is left and ends.
    let exit = worker.terminate(Duration::from_secs(30)).await;
    assert!(
        exit.is_some_and(|e| e.success()),
        "{exit:?}: {}",
        worker.log.display()
    );
    let exit = api.terminate(Duration::from_secs(30)).await;
    assert!(
        exit.is_some(),
        "the API stops on SIGTERM: {}",
        api.log.display()
    );
    worker.remove_log();
    api.remove_log();
    env.finish().await;
}

/// Without an endpoint, or with `OTEL_SDK_DISABLED=true`, nothing is
/// installed: no export thread in either process, and nothing reaches a
/// receiver, not even at exit (when a process with export on sends what
/// it still holds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_or_when_disabled_nothing_is_installed_or_sent() {
    let env = TestEnv::new().await;
    let (src, sync) = env.one_sync().await;
    let token = env.api_token(&[&src.project], "write").await;
    let (collector, inbox) = otlp_receiver().await;
    // The API: an endpoint, but the SDK disabled. The worker: every other
    // OTEL_* variable, no endpoint.
    let api = WorkerProcess::spawn_with(
        EXE,
        &["api"],
        &env.settings,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.clone()),
            ("OTEL_SDK_DISABLED", "true".into()),
        ],
        &log_path("api-off"),
    );
    let worker = WorkerProcess::spawn(
        EXE,
        &env.settings,
        &[
            ("OTEL_SERVICE_NAME", "quiet".into()),
            ("OTEL_TRACES_SAMPLER", "always_on".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "10".into()),
        ],
        &log_path("worker-off"),
    );
    let (mut api, mut worker) = (api, worker);
    api.wait_ready_status(200, Duration::from_secs(30)).await;
    worker.wait_ready_status(200, Duration::from_secs(30)).await;
    let job = trigger(
        &api,
        sync,
        &token,
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    )
    .await;
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(export_threads(&api), 0);
    assert_eq!(export_threads(&worker), 0);
    let exit = worker.terminate(Duration::from_secs(30)).await;
    assert!(exit.is_some_and(|e| e.success()), "{exit:?}");
    let exit = api.terminate(Duration::from_secs(30)).await;
    assert!(exit.is_some(), "the API stops on SIGTERM");
    {
        let inbox = inbox.lock().expect("inbox");
        assert!(
            inbox.keys.is_empty() && inbox.spans.is_empty(),
            "{:?}",
            inbox.spans
        );
    }
    let logs = std::fs::read_to_string(&worker.log).unwrap_or_default()
        + &std::fs::read_to_string(&api.log).unwrap_or_default();
    assert!(!logs.contains("exporting traces"), "{logs}");
    worker.remove_log();
    api.remove_log();
    env.finish().await;
}
