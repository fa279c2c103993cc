//! The performance benchmark: the real pipeline (RabbitMQ, Postgres, an
//! in-process worker, the Humanitec sandbox), measured, printed.
//!
//! `cargo run --release --example bench` (add `-- --quick` for a smaller
//! run). Prints: no-op sync jobs per second at WORKER_CONCURRENCY 8, 32 and
//! 128 (2,000 unchanged syncs queued before the worker starts); job latency
//! p50/p95/p99 from enqueue to status written; Humanitec requests per job;
//! peak RSS of the whole bench process (worker, sandbox and seeding: an upper
//! bound of the worker's); a 500-key first sync at 50 ms per Humanitec call
//! with the adaptive write limit, a fixed limit of 4 and writes in sequence
//! (the old worker's behaviour); and the same with a Humanitec that answers
//! 429 to more than 20 requests in flight.

use std::time::{Duration, Instant};

use humanitec_sandbox::{AppSpec, Faults, OrgSpec, Role, SandboxConfig, TokenSpec};
use secret_sync::config::LogFormat;
use secret_sync::JobKind;
use secret_sync_testkit::{options, TestEnv, ADMIN_TOKEN, ORG};
use serde_json::json;
use uuid::Uuid;

#[tokio::main]
async fn main() {
    secret_sync::init_logging(&LogFormat::Text, "error");
    let quick = std::env::args().any(|a| a == "--quick");
    let syncs = if quick { 400 } else { 2000 };
    println!("== secret-sync benchmark ({} syncs) ==", syncs);
    throughput(syncs).await;
    big_syncs(if quick { 100 } else { 500 }).await;
    println!(
        "\npeak RSS of the bench process (worker + sandbox + seeding): {} MB",
        peak_rss_kb() / 1024
    );
}

/// 100 apps, each with a `production` environment; one admin token.
fn many_apps() -> SandboxConfig {
    SandboxConfig {
        orgs: vec![OrgSpec {
            id: ORG.into(),
            apps: (0..100)
                .map(|i| AppSpec {
                    id: format!("app-{i:03}"),
                    envs: vec!["production".into()],
                })
                .collect(),
        }],
        tokens: vec![TokenSpec {
            token: ADMIN_TOKEN.into(),
            org: ORG.into(),
            role: Role::Administrator,
        }],
    }
}

async fn env_with(
    sandbox: SandboxConfig,
    vars: &'static [(&'static str, &'static str)],
) -> TestEnv {
    let id = Uuid::new_v4().simple().to_string();
    TestEnv::with_sandbox(
        &format!("postgres://postgres@127.0.0.1:5432/bench_{id}"),
        &format!("bench-{id}."),
        sandbox,
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        },
    )
    .await
}

/// Waits until every job in `ids` has a final row; returns the wall time.
async fn wait_all(env: &TestEnv, ids: &[Uuid], started: Instant) -> Duration {
    let list = ids
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT count(*) FROM secret_sync_jobs WHERE id IN ({list})
            AND status IN ('succeeded', 'failed', 'skipped')"
    );
    loop {
        let done = env.seed.numbers(&sql).await.first().copied().unwrap_or(0.0);
        if done as usize >= ids.len() {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn throughput(n: usize) {
    let mut env = env_with(
        many_apps(),
        &[
            ("SYNC_DEBOUNCE", "0ms"),
            ("WORKER_CONCURRENCY", "32"),
            ("DATABASE_POOL_SIZE", "40"),
        ],
    )
    .await;
    env.seed.create_project("bench", "Bench").await;
    let connection = env
        .seed
        .create_connection("bench", "conn", ADMIN_TOKEN)
        .await;
    let folder = env.seed.create_folder("bench", "production", "/").await;
    env.seed.put_secret(folder, "VALUE", "v", None).await;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let options = json!({"initialSyncBehavior": "overwrite-destination",
                             "keySchema": format!("S{i}_{{{{secretKey}}}}")});
        let destination =
            json!({"scope": "application", "org": ORG, "app": format!("app-{:03}", i % 100)});
        ids.push(
            env.seed
                .create_sync(
                    "bench",
                    &format!("sync-{i}"),
                    folder,
                    connection,
                    &destination,
                    &options,
                )
                .await,
        );
    }
    // First syncs: everything is new.
    env.start_worker().await;
    let started = Instant::now();
    let mut jobs = Vec::with_capacity(n);
    for &sync in &ids {
        jobs.push(
            env.client
                .enqueue(sync, JobKind::SYNC, "bench")
                .await
                .expect("enqueue"),
        );
    }
    let first = wait_all(&env, &jobs, started).await;
    println!(
        "\nfirst sync of {n} syncs (1 key each, concurrency 32): {:.1} s, {:.0} jobs/s",
        first.as_secs_f64(),
        n as f64 / first.as_secs_f64()
    );

    println!("\nno-op sync jobs ({n} unchanged syncs queued before the worker starts):");
    println!("  concurrency   jobs/s   wall     requests/job");
    for concurrency in [8u16, 32, 128] {
        env.stop_workers().await;
        env.sandbox.clear_requests();
        let mut jobs = Vec::with_capacity(n);
        for &sync in &ids {
            jobs.push(
                env.client
                    .enqueue(sync, JobKind::SYNC, "bench")
                    .await
                    .expect("enqueue"),
            );
        }
        env.settings.worker.concurrency = concurrency;
        let started = Instant::now();
        env.start_worker().await;
        let wall = wait_all(&env, &jobs, started).await;
        println!(
            "  {concurrency:>11}   {:>6.0}   {:>5.2}s   {:.2}",
            n as f64 / wall.as_secs_f64(),
            wall.as_secs_f64(),
            env.sandbox.requests().len() as f64 / n as f64
        );
    }

    // Latency: a steady 200 jobs/s against a running worker.
    env.stop_workers().await;
    env.settings.worker.concurrency = 32;
    env.start_worker().await;
    let mut jobs = Vec::new();
    let started = Instant::now();
    for (i, &sync) in ids.iter().take(n.min(1000)).enumerate() {
        let due = started + Duration::from_millis(5 * i as u64);
        tokio::time::sleep_until(due.into()).await;
        jobs.push(
            env.client
                .enqueue(sync, JobKind::SYNC, "bench")
                .await
                .expect("enqueue"),
        );
    }
    wait_all(&env, &jobs, started).await;
    let list = jobs
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let mut latencies = env
        .seed
        .numbers(&format!(
            "SELECT extract(epoch FROM finished_at - enqueued_at) * 1000
               FROM secret_sync_jobs WHERE id IN ({list}) AND finished_at IS NOT NULL"
        ))
        .await;
    latencies.sort_by(f64::total_cmp);
    println!(
        "\njob latency, enqueue to status written, {} jobs at 200/s (concurrency 32): p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99)
    );
    env.finish().await;
}

/// One first sync of `keys` new keys at app scope, 50 ms per Humanitec call.
async fn one_big_sync(
    keys: usize,
    vars: &'static [(&'static str, &'static str)],
    max_in_flight: Option<usize>,
) -> (Duration, usize, usize, String) {
    let mut env = env_with(SandboxConfig::demo(), vars).await;
    env.sandbox.set_faults(Faults {
        latency_ms: 50,
        max_in_flight,
        ..Faults::default()
    });
    let pairs: Vec<(String, String)> = (0..keys)
        .map(|i| (format!("KEY_{i:04}"), format!("value-{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let src = env.source("production", &refs).await;
    let sync = env
        .sync(
            &src,
            "big",
            json!({"scope": "application", "org": ORG, "app": "api"}),
            options(),
        )
        .await;
    env.start_worker().await;
    let row = env.wait_job(env.enqueue(sync).await).await;
    let took = match (row.started_at, row.finished_at) {
        (Some(s), Some(f)) => (f - s).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    };
    let requests = env.sandbox.requests();
    let rejected = requests
        .iter()
        .filter(|r| r.fault.as_deref() == Some("overloaded"))
        .count();
    let limit = env
        .metrics
        .as_ref()
        .map(|m| m.encode())
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("secret_sync_humanitec_write_limit{stat=\"max\"}"))
        .and_then(|l| l.rsplit(' ').next().map(str::to_string))
        .unwrap_or_else(|| "-".into());
    assert_eq!(row.created as usize, keys, "{:?}", row.message);
    env.finish().await;
    (took, requests.len(), rejected, limit)
}

/// A write-limit setting: its name, its variables, and the sandbox's
/// in-flight ceiling (429 above it).
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<usize>,
);

async fn big_syncs(keys: usize) {
    println!("\na first sync of {keys} keys, 50 ms per Humanitec call:");
    println!("  write limit                        time      requests  429s  final limit");
    let cases: [Case; 4] = [
        ("adaptive (default, cap 32)", &[], None),
        (
            "fixed at 4",
            &[
                ("HUMANITEC_WRITE_ADAPTIVE", "false"),
                ("HUMANITEC_WRITE_CONCURRENCY", "4"),
            ],
            None,
        ),
        (
            "in sequence (the old worker)",
            &[
                ("HUMANITEC_WRITE_ADAPTIVE", "false"),
                ("HUMANITEC_WRITE_CONCURRENCY", "1"),
            ],
            None,
        ),
        (
            "adaptive, 429 above 20 in flight",
            &[("HTTP_RETRIES", "8")],
            Some(20),
        ),
    ];
    for (name, vars, max_in_flight) in cases {
        let (took, requests, rejected, limit) = one_big_sync(keys, vars, max_in_flight).await;
        println!(
            "  {name:<32}  {:>6.2} s  {requests:>8}  {rejected:>4}  {limit}",
            took.as_secs_f64()
        );
    }
}

/// VmHWM of this process, in kB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
