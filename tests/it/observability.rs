//! What on-call people read: the worker's `/metrics`, and the enqueuer's
//! trace id continued in the job's JSON logs.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use humanitec_sandbox::{Fault, Faults};
use secret_sync::http::{health_router, serve, HealthState};
use secret_sync::worker::{self, Shared};
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// `/metrics` as series name (with labels) -> value.
async fn scrape(addr: std::net::SocketAddr) -> HashMap<String, f64> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    metric_series(&text)
}

fn get(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

/// Scrapes until `check` holds (gauges refresh every 100 ms here).
async fn scrape_until(
    addr: std::net::SocketAddr,
    what: &str,
    check: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    eventually(Duration::from_secs(15), || async {
        let m = scrape(addr).await;
        if check(&m) {
            return Ok(m);
        }
        let mut series: Vec<_> = m.iter().filter(|(k, _)| !k.contains("_bucket")).collect();
        series.sort_by(|a, b| a.0.cmp(b.0));
        Err(format!("metrics never showed {what}: {series:#?}"))
    })
    .await
}

/// Runs a sync job of `sync` to success, then scrapes: every request the
/// sandbox saw is counted.
async fn run_and_scrape(
    env: &TestEnv,
    sync: uuid::Uuid,
    addr: std::net::SocketAddr,
) -> HashMap<String, f64> {
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded);
    let m = scrape(addr).await;
    assert_requests_match_sandbox(env, &m);
    m
}

/// Every (method, status) in the sandbox's log is counted exactly, and the
/// latency histogram saw each request once.
fn assert_requests_match_sandbox(env: &TestEnv, m: &HashMap<String, f64>) {
    let mut expected: HashMap<(String, u16), f64> = HashMap::new();
    for r in env.sandbox.requests() {
        *expected.entry((r.method.clone(), r.status)).or_default() += 1.0;
    }
    let mut per_method: HashMap<String, f64> = HashMap::new();
    for ((method, status), n) in &expected {
        let series = format!(
            "secret_sync_humanitec_requests_total{{method=\"{method}\",status=\"{status}\"}}"
        );
        assert_eq!(get(m, &series), *n, "{series}");
        *per_method.entry(method.clone()).or_default() += n;
    }
    for (method, n) in per_method {
        let series =
            format!("secret_sync_humanitec_request_duration_seconds_count{{method=\"{method}\"}}");
        assert_eq!(get(m, &series), n, "{series}");
    }
}

#[tokio::test]
async fn metrics_move_by_what_happened() {
    let env = TestEnv::with(|name| match name {
        "METRICS_REFRESH" => Some("100ms".into()),
        "WORKER_CONCURRENCY" => Some("1".into()),
        "JOB_RETRY_DELAYS" => Some("1m".into()),
        _ => None,
    })
    .await;
    let shared = Shared::build(env.settings.clone()).await.expect("worker");
    let stop = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = health_router(HealthState {
        store: shared.store.clone(),
        broker: secret_sync::http::BrokerReadiness::Consuming(shared.broker_connected.clone()),
        metrics: shared.metrics.clone(),
        sessions: None,
    });
    let http = tokio::spawn(serve(listener, router, stop.clone()));
    let running = tokio::spawn(worker::run(shared, stop.clone()));

    // Requests by method and status, latency: a first sync writes two keys.
    let src = env.source("production", &[("A", "1"), ("B", "2")]).await;
    let s1 = env.sync(&src, "s1", app_scope("api"), options()).await;
    let m = run_and_scrape(&env, s1, addr).await;
    assert_eq!(
        get(
            &m,
            "secret_sync_humanitec_requests_total{method=\"POST\",status=\"201\"}"
        ) + get(
            &m,
            "secret_sync_humanitec_requests_total{method=\"POST\",status=\"200\"}"
        ),
        2.0
    );

    // Retries: one 503, retried in process.
    env.sandbox.set_faults(Faults {
        script: vec![Fault::Status {
            status: 503,
            retry_after: None,
        }],
        ..Faults::default()
    });
    let m = run_and_scrape(&env, s1, addr).await;
    assert_eq!(
        get(
            &m,
            "secret_sync_humanitec_requests_total{method=\"GET\",status=\"503\"}"
        ),
        1.0
    );
    assert_eq!(
        get(&m, "secret_sync_humanitec_retries_total{method=\"GET\"}"),
        1.0
    );

    // Syncs by status, from Postgres: one succeeded, one failed, one never run.
    let bad = env
        .source_with_token("production", &[("C", "3")], "not-a-token")
        .await;
    let s2 = env.sync(&bad, "s2", app_scope("web"), options()).await;
    assert_eq!(env.run_sync(s2).await.status, JobStatus::Failed);
    let s3 = env.sync(&src, "s3", app_scope("other"), options()).await;
    scrape_until(addr, "1 succeeded, 1 failed, 1 never", |m| {
        get(m, "secret_sync_syncs{status=\"succeeded\"}") == 1.0
            && get(m, "secret_sync_syncs{status=\"failed\"}") == 1.0
            && get(m, "secret_sync_syncs{status=\"never\"}") == 1.0
    })
    .await;

    // The oldest pending job: a row another service marked pending 100 s ago.
    env.seed
        .execute_sql(&format!(
            "INSERT INTO secret_sync_jobs (id, sync_id, type, status, enqueued_at)
             VALUES ('{}', '{s3}', 'sync', 'pending', now() - interval '100 seconds')",
            Uuid::new_v4()
        ))
        .await;
    let m = scrape_until(addr, "a pending job 100 s old", |m| {
        get(m, "secret_sync_oldest_pending_job_age_seconds") >= 100.0
    })
    .await;
    assert!(get(&m, "secret_sync_oldest_pending_job_age_seconds") < 160.0);

    // Dead queue: a poison message.
    env.publish_raw("sync", b"{not json").await;
    scrape_until(addr, "1 dead letter", |m| {
        get(m, "secret_sync_queue_messages{queue=\"dead\"}") == 1.0
    })
    .await;

    // Wait ladder: a job whose retries ran out in process waits 1 m there.
    env.sandbox.set_faults(Faults {
        always: Some(Fault::Status {
            status: 503,
            retry_after: None,
        }),
        ..Faults::default()
    });
    env.put_secret(src.folder, "A", "changed").await;
    env.enqueue(s1).await;
    // The job's debounce waits on the same ladder before it runs: the wait
    // seen once the in-process retries are spent is the retry's.
    let m = scrape_until(addr, "1 job in a wait queue, retries spent", |m| {
        get(m, "secret_sync_queue_messages{queue=\"delay\"}") == 1.0
            && get(m, "secret_sync_humanitec_retries_total{method=\"GET\"}") == 4.0
    })
    .await;
    assert_requests_match_sandbox(&env, &m);
    assert_eq!(
        get(&m, "secret_sync_humanitec_retries_total{method=\"GET\"}"),
        1.0 + 3.0,
        "HTTP_RETRIES=3 more"
    );

    // Jobs queue: with one job at a time and a slow Humanitec, two wait
    // (three syncs: jobs of one sync would coalesce into one).
    env.sandbox.set_faults(Faults {
        latency_ms: 1500,
        ..Faults::default()
    });
    let waiting = [
        env.enqueue(s2).await,
        env.enqueue(s3).await,
        env.enqueue(s1).await,
    ];
    scrape_until(addr, "2 jobs ready in the jobs queue", |m| {
        get(m, "secret_sync_queue_messages{queue=\"jobs\"}") == 2.0
    })
    .await;
    for job in waiting {
        env.wait_job(job).await;
    }

    stop.cancel();
    let _ = running.await;
    let _ = http.await;
    env.finish().await;
}

#[tokio::test]
async fn a_traceparent_header_continues_the_trace_in_the_job_logs() {
    let env = TestEnv::new().await;
    let src = env.source("production", &[("A", "1")]).await;
    let sync = env.sync(&src, "traced", app_scope("api"), options()).await;

    // The real binary, logging JSON to a file.
    let log_path = std::env::temp_dir().join(format!("trace-{}.log", Uuid::new_v4()));
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_secret-sync"))
        .arg("run")
        .envs(env.product_env())
        .env("LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("worker starts");

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let job_id = Uuid::new_v4();
    let traceparent = format!("00-{trace_id}-{parent}-01");
    let body = json!({"jobId": job_id, "syncId": sync, "type": "sync"}).to_string();
    let props = TestEnv::job_properties(job_id, &[("traceparent", &traceparent)]);
    env.publish(&env.names.jobs_exchange(), "sync", body.as_bytes(), props)
        .await;

    let row = env.wait_job(job_id).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);

    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let _ = std::fs::remove_file(&log_path);
    let finished: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        // The "job finished" event (its `message` field is overwritten by the
        // outcome's `message` field in JSON, so match on `elapsed_ms`).
        .filter(|l| {
            l["target"] == "secret_sync::engine::runner" && l["fields"]["elapsed_ms"].is_u64()
        })
        .collect();
    assert_eq!(finished.len(), 1, "{logs}");
    let span = &finished[0]["span"];
    assert_eq!(span["name"], "job");
    assert_eq!(span["job_id"], job_id.to_string().as_str());
    assert_eq!(span["trace_id"], trace_id, "{}", finished[0]);
    assert_eq!(span["parent_span_id"], parent);
    env.finish().await;
}

/// The names the product's Postgres connections carry in
/// `pg_stat_activity` (where an operator looks for who holds a lock).
async fn connection_names(env: &TestEnv) -> Vec<String> {
    let client = env.sql().await;
    let names = client
        .query(
            "SELECT DISTINCT application_name FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .iter()
        .map(|r| r.get(0))
        .collect();
    names
}

/// An operator looking at `pg_stat_activity` sees which connections are
/// this service's: `secret-sync`, or the name DATABASE_URL gives.
#[tokio::test]
async fn the_products_database_connections_say_whose_they_are() {
    let env = TestEnv::new().await;
    env.store.ping().await.expect("ping");
    let names = connection_names(&env).await;
    assert!(
        names
            .iter()
            .any(|n| n == secret_sync::store::APPLICATION_NAME),
        "{names:?}"
    );
    let base = &env.settings.database_url;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}application_name=secret-sync-eu");
    let named = secret_sync::Store::connect(&url, 2).expect("pool");
    named.ping().await.expect("ping");
    let names = connection_names(&env).await;
    assert!(names.iter().any(|n| n == "secret-sync-eu"), "{names:?}");
    drop(named);
    env.finish().await;
}
