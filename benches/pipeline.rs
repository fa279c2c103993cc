//! The performance benchmark: the real pipeline (RabbitMQ, Postgres, the
//! worker, the Humanitec sandbox), measured, printed.
//!
//! `cargo bench --bench pipeline` (add `-- --quick` for a smaller run).
//! Prints: no-op sync jobs per second of one `secret-sync run` process at
//! WORKER_CONCURRENCY 8, 32 and 128 (2,000 unchanged syncs queued before
//! it starts), with the CPU each part of the pipeline spent per job and the
//! worker's peak RSS; job latency p50/p95/p99 from enqueue to status
//! written; Humanitec requests per job; a 500-key first sync at 50 ms per
//! Humanitec call, against a constant-latency sandbox and one whose latency
//! rises with the requests in flight, with the adaptive write limit, fixed
//! limits of 4 and 32 (the best fixed limit on both, by the simulation in
//! `src/humanitec/window_sim.rs`) and writes in sequence (the old worker's
//! behaviour); the same against a Humanitec that answers 429 to more than
//! 20 requests in flight; and one secret change reaching 200 auto-synced
//! apps of one connection. `-- --writes` runs only the write cases.
//! `-- --fleet` runs only the fleet case: three syncs of 300 new keys on
//! three apps of one connection, against a Humanitec that answers 429 above
//! 24 requests in flight (50 ms each), on 1, 3 and 10 worker processes;
//! then the same after a burst of 429s, and one process alone right after.
//! `-- --list` runs only the list case: `GET /api/v1/secret-syncs/humanitec`
//! of 1,000 and of 10,000 syncs from a `secret-sync api` process, the time
//! and the process's peak RSS after each.

use std::time::{Duration, Instant};

use humanitec_sandbox::{AppSpec, Faults, OrgSpec, Role, SandboxConfig, TokenSpec};
use secret_sync::config::LogFormat;
use secret_sync::queue::SecretChanged;
use secret_sync::JobKind;
use secret_sync_testkit::{
    app_scope, eventually, options, TestEnv, WorkerProcess, ADMIN_TOKEN, ORG,
};
use serde_json::json;
use uuid::Uuid;

#[tokio::main]
async fn main() {
    secret_sync::init_logging(&LogFormat::Text, "error");
    let quick = std::env::args().any(|a| a == "--quick");
    let syncs = if quick { 400 } else { 2000 };
    let writes_only = std::env::args().any(|a| a == "--writes");
    let scale_only = std::env::args().any(|a| a == "--scale");
    if std::env::args().any(|a| a == "--fleet") {
        fleet().await;
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        list_at_scale().await;
        return;
    }
    println!("== secret-sync benchmark ({} syncs) ==", syncs);
    if !writes_only && !scale_only {
        throughput(syncs).await;
    }
    if !writes_only {
        // `--sizes 10000,50000` measures only those sizes (profiling one).
        let mut after_flag = std::env::args().skip_while(|a| a != "--sizes");
        let asked = after_flag.next().is_some();
        // `cargo bench` appends `--bench`: a flag is not a value.
        let sizes: Vec<usize> = match after_flag.next().filter(|v| !v.starts_with("--")) {
            None if asked => {
                eprintln!("--sizes takes queue sizes like 10000,50000; none were given");
                std::process::exit(2)
            }
            Some(list) => list
                .split(',')
                .map(|n| match n.trim().parse() {
                    Ok(size) => size,
                    Err(_) => {
                        eprintln!("--sizes takes queue sizes like 10000,50000; `{n}` is not one");
                        std::process::exit(2)
                    }
                })
                .collect(),
            None if quick => vec![400, 2_000],
            None => vec![2_000, 10_000, 50_000],
        };
        at_scale(&sizes).await;
    }
    if !scale_only {
        big_syncs(if quick { 100 } else { 500 }).await;
        fan_out(if quick { 50 } else { 200 }).await;
    }
}

/// 100 apps, each with a `production` environment; one admin token.
fn many_apps() -> SandboxConfig {
    apps(100)
}

/// `count` apps `app-000`…, each with a `production` environment; one admin
/// token.
fn apps(count: usize) -> SandboxConfig {
    apps_named((0..count).map(|i| format!("app-{i:03}")))
}

/// One app per name, each with a `production` environment; one admin token.
fn apps_named(names: impl Iterator<Item = String>) -> SandboxConfig {
    SandboxConfig {
        orgs: vec![OrgSpec {
            id: ORG.into(),
            apps: names
                .map(|id| AppSpec {
                    id,
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU seconds (user + system) used so far by the processes `pids`.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // Clock ticks per second: 100 on every Linux this runs on (USER_HZ).
    const TICKS: f64 = 100.0;
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
            let rest = stat.rsplit_once(") ")?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / TICKS)
        })
        .sum()
}

/// Pids of every process whose command name is `name` (Postgres backends,
/// RabbitMQ's `beam.smp`).
fn pids_named(name: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == name)
        })
        .collect()
}

/// CPU used by each part of the pipeline between two readings.
struct CpuMeter {
    worker: u32,
    start: [f64; 4],
}

impl CpuMeter {
    fn now(worker: u32) -> [f64; 4] {
        [
            cpu_seconds(&[worker]),
            cpu_seconds(&pids_named("postgres")),
            cpu_seconds(&pids_named("beam.smp")),
            cpu_seconds(&[std::process::id()]),
        ]
    }

    fn start(worker: u32) -> CpuMeter {
        CpuMeter {
            worker,
            start: Self::now(worker),
        }
    }

    /// Microseconds of CPU per job: worker, Postgres, RabbitMQ, and this
    /// process (the Humanitec sandbox and the bench's own polling).
    fn per_job(&self, jobs: usize) -> [f64; 4] {
        let end = Self::now(self.worker);
        std::array::from_fn(|i| (end[i] - self.start[i]) * 1e6 / jobs as f64)
    }
}

/// VmHWM (peak resident memory) of process `pid`, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The `secret-sync run` binary Cargo built for this bench.
const WORKER_EXE: &str = env!("CARGO_BIN_EXE_secret-sync");

/// Starts `secret-sync run` as its own process, as an operator would.
fn spawn_worker(env: &TestEnv, concurrency: u16, log: &std::path::Path) -> WorkerProcess {
    WorkerProcess::spawn(
        WORKER_EXE,
        &env.settings,
        &[
            ("WORKER_CONCURRENCY", concurrency.to_string()),
            ("RUST_LOG", "warn".into()),
        ],
        log,
    )
}

/// Waits until `n` jobs with `trigger` have a final row (at most 5 minutes).
/// What is measured comes from the rows' times, not from this wait.
async fn wait_trigger(env: &TestEnv, trigger: &str, n: usize, worker: &WorkerProcess) {
    let sql = format!(
        "SELECT count(*) FROM secret_sync_jobs WHERE trigger = '{trigger}'
            AND status IN ('succeeded', 'failed', 'skipped')"
    );
    eventually(Duration::from_secs(300), || async {
        let done = env.seed.numbers(&sql).await.first().copied().unwrap_or(0.0) as usize;
        if done >= n {
            return Ok(());
        }
        // The count reads the whole job table: at 100,000 rows, polled at
        // the helper's pace, it took a share of the 2 cores the worker is
        // measured on, and of the Postgres CPU charged to each job. Once a
        // second is enough, since the times come from the rows.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Err(format!(
            "{trigger}: {done} of {n} jobs final; the worker's log is {}",
            worker.log.display()
        ))
    })
    .await;
}

/// What one worker spent draining a phase's `n` queued jobs.
struct Drained {
    /// Seconds from the first start to the last finish.
    busy: f64,
    /// CPU µs per job: worker, Postgres, RabbitMQ, sandbox and bench.
    cpu: [f64; 4],
    /// The worker's peak resident set, in kB.
    rss: u64,
    /// Bytes of WAL Postgres wrote per job: what each job's row writes
    /// cost, steady from run to run where CPU times vary with the machine.
    wal: f64,
    /// Transactions Postgres committed per job (its statistics: every
    /// client of the database, the bench's polling included).
    commits: f64,
}

/// The one number `sql` answers (NaN if none).
async fn number(env: &TestEnv, sql: &str) -> f64 {
    env.seed
        .numbers(sql)
        .await
        .first()
        .copied()
        .unwrap_or(f64::NAN)
}

/// Transactions committed in the bench's database so far.
async fn commits(env: &TestEnv) -> f64 {
    number(
        env,
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .await
}

/// Postgres's current WAL position, in bytes.
async fn wal_position(env: &TestEnv) -> f64 {
    number(env, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").await
}

/// Runs `worker` until every job of `trigger` has ended, then stops it.
async fn drain(env: &TestEnv, trigger: &str, n: usize, mut worker: WorkerProcess) -> Drained {
    let pid = worker.pid().expect("worker pid");
    let meter = CpuMeter::start(pid);
    let wal_before = wal_position(env).await;
    let commits_before = commits(env).await;
    wait_trigger(env, trigger, n, &worker).await;
    let cpu = meter.per_job(n);
    let wal = (wal_position(env).await - wal_before) / n as f64;
    let rss = peak_rss_kb(pid);
    worker.terminate(Duration::from_secs(30)).await;
    // The worker's backends report their counts as they exit, just after
    // it disconnects.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let commits = (commits(env).await - commits_before) / n as f64;
    Drained {
        busy: busy_seconds(env, trigger).await,
        cpu,
        rss,
        wal,
        commits,
    }
}

/// Seconds from the first job's start to the last job's finish.
async fn busy_seconds(env: &TestEnv, trigger: &str) -> f64 {
    let sql = format!(
        "SELECT extract(epoch FROM max(finished_at) - min(started_at))
           FROM secret_sync_jobs WHERE trigger = '{trigger}'"
    );
    number(env, &sql).await
}

/// Enqueues a sync job for each of `syncs` through the one enqueue path,
/// 16 at a time (as many API requests would).
async fn enqueue_all(env: &TestEnv, syncs: &[Uuid], trigger: &str) {
    use futures::StreamExt;
    futures::stream::iter(syncs)
        .for_each_concurrent(16, |&sync| async move {
            env.client
                .enqueue(sync, JobKind::SYNC, trigger)
                .await
                .expect("enqueue");
        })
        .await;
}

/// Project `bench` with one connection (the admin token) and a `production`
/// folder holding one secret, `VALUE`: the source of every no-op sync.
async fn bench_project(env: &TestEnv) -> (Uuid, Uuid) {
    env.seed.create_project("bench", "Bench").await;
    let connection = env
        .seed
        .create_connection("bench", "conn", ADMIN_TOKEN)
        .await;
    let folder = env.seed.create_folder("bench", "production", "/").await;
    env.seed.put_secret(folder, "VALUE", "v", None).await;
    (connection, folder)
}

async fn throughput(n: usize) {
    let env = env_with(many_apps(), &[("SYNC_DEBOUNCE", "0ms")]).await;
    let (connection, folder) = bench_project(&env).await;
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
    let log = std::env::temp_dir().join(format!("secret-sync-bench-{}.log", std::process::id()));

    // First syncs: everything is new (one write per sync).
    enqueue_all(&env, &ids, "first").await;
    let mut worker = spawn_worker(&env, 32, &log);
    wait_trigger(&env, "first", n, &worker).await;
    worker.terminate(Duration::from_secs(30)).await;
    let first = busy_seconds(&env, "first").await;
    println!(
        "\nfirst sync of {n} syncs (1 new key each, concurrency 32): {first:.2} s, {:.0} jobs/s",
        n as f64 / first
    );

    println!("\nno-op sync jobs ({n} unchanged syncs queued before the worker starts; one `secret-sync run` process):");
    println!("  concurrency   jobs/s   busy     Humanitec     CPU per job (µs): worker  Postgres  RabbitMQ  sandbox+bench   worker peak RSS");
    println!("                                  requests/job");
    for concurrency in [8u16, 32, 128] {
        let trigger = format!("noop-{concurrency}");
        // What autovacuum does on a normally configured server (this
        // machine's Postgres runs with it off): without it each phase
        // would pay for the dead row versions of the ones before.
        env.seed.execute_sql("VACUUM ANALYZE").await;
        env.sandbox.clear_requests();
        enqueue_all(&env, &ids, &trigger).await;
        let Drained { busy, cpu, rss, .. } =
            drain(&env, &trigger, n, spawn_worker(&env, concurrency, &log)).await;
        println!(
            "  {concurrency:>11}   {:>6.0}   {busy:>5.2}s  {:>8.2}        {:>24.0}  {:>8.0}  {:>8.0}  {:>13.0}   {:>5.1} MB",
            n as f64 / busy,
            env.sandbox.requests().len() as f64 / n as f64,
            cpu[0],
            cpu[1],
            cpu[2],
            cpu[3],
            rss as f64 / 1024.0,
        );
    }

    // Latency: a steady 200 jobs/s against a running worker.
    let mut worker = spawn_worker(&env, 32, &log);
    worker.wait_ready_status(200, Duration::from_secs(60)).await;
    let count = n.min(1000);
    let started = Instant::now();
    for (i, &sync) in ids.iter().take(count).enumerate() {
        let due = started + Duration::from_millis(5 * i as u64);
        tokio::time::sleep_until(due.into()).await;
        env.client
            .enqueue(sync, JobKind::SYNC, "latency")
            .await
            .expect("enqueue");
    }
    wait_trigger(&env, "latency", count, &worker).await;
    worker.terminate(Duration::from_secs(30)).await;
    let mut latencies = env
        .seed
        .numbers(
            "SELECT extract(epoch FROM finished_at - enqueued_at) * 1000
               FROM secret_sync_jobs WHERE trigger = 'latency' AND finished_at IS NOT NULL",
        )
        .await;
    latencies.sort_by(f64::total_cmp);
    println!(
        "\njob latency, enqueue to status written, {} jobs at 200/s (concurrency 32): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99)
    );
    let _ = std::fs::remove_file(&log);
    env.finish().await;
}

/// No-op throughput as the service grows: at each size every sync (each to
/// its own app, in a sandbox that holds the largest size's apps from the
/// start) is queued before the worker starts, and the job table keeps every
/// earlier phase's rows, so queue depth and table size both grow.
async fn at_scale(sizes: &[usize]) {
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let env = env_with(
        apps_named((1..=largest).map(|g| format!("sync-{g}"))),
        &[("SYNC_DEBOUNCE", "0ms")],
    )
    .await;
    let (connection, folder) = bench_project(&env).await;
    let log = std::env::temp_dir().join(format!("secret-sync-scale-{}.log", std::process::id()));
    let concurrency = env.settings.worker.concurrency;
    println!(
        "\nno-op sync jobs at scale (every sync queued before the worker starts; one `secret-sync run` process at concurrency {concurrency}):"
    );
    println!("  queued syncs   job rows before   enqueue/s   jobs/s   busy      CPU per job (µs): worker  Postgres  RabbitMQ  sandbox+bench   worker peak RSS   WAL per job   commits per job");
    let mut ids: Vec<Uuid> = Vec::with_capacity(largest);
    let mut enqueue_cpu = Vec::with_capacity(sizes.len());
    for &n in sizes {
        let first = ids.len() as i32 + 1;
        let new = env
            .seed
            .create_syncs("bench", "sync-", folder, connection, ORG, first..=n as i32)
            .await;
        // Their first sync (one new key each) makes the measured run a no-op.
        let trigger = format!("first-{n}");
        enqueue_all(&env, &new, &trigger).await;
        let mut worker = spawn_worker(&env, concurrency, &log);
        wait_trigger(&env, &trigger, new.len(), &worker).await;
        worker.terminate(Duration::from_secs(30)).await;
        ids.extend(new);

        env.seed.execute_sql("VACUUM ANALYZE").await;
        let rows = env
            .seed
            .numbers("SELECT count(*) FROM secret_sync_jobs")
            .await
            .first()
            .copied()
            .unwrap_or(0.0);
        let trigger = format!("noop-{n}");
        let started = Instant::now();
        // The enqueuer is this process: its column is the first and the last.
        let meter = CpuMeter::start(std::process::id());
        enqueue_all(&env, &ids, &trigger).await;
        let enqueue_rate = n as f64 / started.elapsed().as_secs_f64();
        enqueue_cpu.push((n, enqueue_rate, meter.per_job(n)));
        let worker = spawn_worker(&env, concurrency, &log);
        let Drained {
            busy,
            cpu,
            rss,
            wal,
            commits,
        } = drain(&env, &trigger, n, worker).await;
        println!(
            "  {n:>12}   {rows:>15.0}   {enqueue_rate:>9.0}   {:>6.0}   {busy:>6.2}s  {:>24.0}  {:>8.0}  {:>8.0}  {:>13.0}   {:>5.1} MB   {wal:>7.0} B   {commits:>15.2}",
            n as f64 / busy,
            cpu[0],
            cpu[1],
            cpu[2],
            cpu[3],
            rss as f64 / 1024.0,
        );
    }
    // Cores busy under 2 (this machine's) means the enqueuers mostly wait.
    println!("\n  enqueue of those phases (16 at a time, no worker running): CPU per job (µs): enqueuer  Postgres  RabbitMQ   cores busy");
    for (n, rate, cpu) in enqueue_cpu {
        let cores = rate * (cpu[0] + cpu[1] + cpu[2]) / 1e6;
        println!(
            "  {n:>12}   {:>75.0}  {:>8.0}  {:>8.0}   {cores:>10.2}",
            cpu[0], cpu[1], cpu[2]
        );
    }
    let _ = std::fs::remove_file(&log);
    env.finish().await;
}

/// One first sync of `keys` new keys at app scope, 50 ms per Humanitec call.
async fn one_big_sync(
    keys: usize,
    vars: &'static [(&'static str, &'static str)],
    faults: Faults,
) -> (Duration, usize, usize, String) {
    let mut env = env_with(SandboxConfig::demo(), vars).await;
    env.sandbox.set_faults(faults);
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
    let row = env.run_sync(sync).await;
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

/// A write-limit setting: its name and its variables.
type Case = (&'static str, &'static [(&'static str, &'static str)]);

const ADAPTIVE: Case = ("adaptive (default, cap 32)", &[]);
const FIXED_4: Case = (
    "fixed at 4",
    &[
        ("HUMANITEC_WRITE_ADAPTIVE", "false"),
        ("HUMANITEC_WRITE_CONCURRENCY", "4"),
    ],
);
const FIXED_32: Case = (
    "fixed at 32 (best fixed)",
    &[
        ("HUMANITEC_WRITE_ADAPTIVE", "false"),
        ("HUMANITEC_WRITE_CONCURRENCY", "32"),
    ],
);
const SEQUENTIAL: Case = (
    "in sequence (the old worker)",
    &[
        ("HUMANITEC_WRITE_ADAPTIVE", "false"),
        ("HUMANITEC_WRITE_CONCURRENCY", "1"),
    ],
);

fn sandbox_latency(per_in_flight_us: u64) -> Faults {
    Faults {
        latency_ms: 50,
        latency_per_in_flight_us: per_in_flight_us,
        ..Faults::default()
    }
}

async fn big_syncs(keys: usize) {
    let servers = [
        ("50 ms", sandbox_latency(0)),
        ("50 ms + 1 ms per request in flight", sandbox_latency(1_000)),
    ];
    for (server, faults) in servers {
        println!("\na first sync of {keys} keys, Humanitec answering in {server}:");
        println!("  write limit                        time      requests  429s  final limit");
        for (name, vars) in [ADAPTIVE, FIXED_4, FIXED_32, SEQUENTIAL] {
            let (took, requests, rejected, limit) = one_big_sync(keys, vars, faults.clone()).await;
            println!(
                "  {name:<32}  {:>6.2} s  {requests:>8}  {rejected:>4}  {limit}",
                took.as_secs_f64()
            );
        }
    }
    println!("\na first sync of {keys} keys, 50 ms, 429 above 20 in flight:");
    println!("  write limit                        time      requests  429s  final limit");
    let capped = Faults {
        max_in_flight: Some(20),
        ..sandbox_latency(0)
    };
    let cases: [Case; 3] = [
        ("adaptive (default, cap 32)", &[("HTTP_RETRIES", "8")]),
        FIXED_4,
        (
            "fixed at 20 (best fixed)",
            &[
                ("HUMANITEC_WRITE_ADAPTIVE", "false"),
                ("HUMANITEC_WRITE_CONCURRENCY", "20"),
            ],
        ),
    ];
    for (name, vars) in cases {
        let (took, requests, rejected, limit) = one_big_sync(keys, vars, capped.clone()).await;
        println!(
            "  {name:<32}  {:>6.2} s  {requests:>8}  {rejected:>4}  {limit}",
            took.as_secs_f64()
        );
    }
}

/// One secret change reaching `apps` auto-synced apps of one connection,
/// 50 ms per Humanitec call: from the event to the last app holding the
/// new value (SYNC_DEBOUNCE, 250 ms by default, included).
async fn fan_out(apps_count: usize) {
    println!(
        "\none secret change, {apps_count} auto-synced apps of one connection, 50 ms per call:"
    );
    println!("  setting                                          time");
    let cases: [Case; 4] = [
        ("default (WORKER_CONCURRENCY 64, adaptive)", &[]),
        (
            "WORKER_CONCURRENCY 8 (the old default)",
            &[("WORKER_CONCURRENCY", "8")],
        ),
        (
            "WORKER_CONCURRENCY 64, fixed at 32 (best fixed)",
            &[
                ("HUMANITEC_WRITE_ADAPTIVE", "false"),
                ("HUMANITEC_WRITE_CONCURRENCY", "32"),
            ],
        ),
        (
            "in sequence (concurrency 1, limit 1)",
            &[
                ("WORKER_CONCURRENCY", "1"),
                ("HUMANITEC_WRITE_ADAPTIVE", "false"),
                ("HUMANITEC_WRITE_CONCURRENCY", "1"),
            ],
        ),
    ];
    for (name, vars) in cases {
        let took = one_change_to_many_apps(apps_count, vars).await;
        println!("  {name:<47}  {:>6.2} s", took.as_secs_f64());
    }
}

async fn one_change_to_many_apps(
    apps_count: usize,
    vars: &'static [(&'static str, &'static str)],
) -> Duration {
    let mut env = env_with(apps(apps_count), vars).await;
    env.sandbox.set_faults(sandbox_latency(0));
    let project = "proj";
    env.seed.create_project(project, "Project").await;
    let connection = env
        .seed
        .create_connection(project, "conn", ADMIN_TOKEN)
        .await;
    let folder = env.seed.create_folder(project, "production", "/fan").await;
    env.put_secret(folder, "A", "0").await;
    let options = json!({"initialSyncBehavior": "overwrite-destination"});
    let names: Vec<String> = (0..apps_count).map(|i| format!("app-{i:03}")).collect();
    for (i, app) in names.iter().enumerate() {
        env.seed
            .create_sync(
                project,
                &format!("s{i}"),
                folder,
                connection,
                &app_scope(app),
                &options,
            )
            .await;
    }
    env.start_worker().await;
    let event = SecretChanged {
        project_id: project.into(),
        environment: "production".into(),
        path: "/fan".into(),
    };
    let arrived = |env: &TestEnv, value: &str| {
        names.iter().all(|app| {
            env.sandbox
                .values(ORG, app, None)
                .iter()
                .any(|v| v.key == "A" && v.value == value)
        })
    };
    // The first event makes every app hold the secret; not measured.
    env.client.publish_change(&event).await.expect("publish");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !arrived(&env, "0") {
        assert!(Instant::now() < deadline, "the first fan-out never landed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.put_secret(folder, "A", "1").await;
    let t0 = Instant::now();
    env.client.publish_change(&event).await.expect("publish");
    // Not `eventually`: this loop is the stopwatch.
    while !arrived(&env, "1") {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the change never landed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = t0.elapsed();
    env.finish().await;
    took
}

/// Keys per sync and syncs of the fleet case, and the sandbox's cap.
const FLEET_KEYS: usize = 300;
const FLEET_SYNCS: usize = 3;
const FLEET_CAP: usize = 24;

/// What one round of the fleet case measured.
struct FleetRound {
    /// From the first job's start to the last one's end.
    seconds: f64,
    writes: usize,
    rejected: usize,
}

/// Puts round `round`'s values in every folder, enqueues every sync, and
/// waits for the jobs: `squeeze` first holds the sandbox at 2 in flight
/// until it has refused `squeeze` writes (a burst of 429s), then lifts it
/// and returns when it did.
async fn fleet_round(
    env: &TestEnv,
    folders: &[Uuid],
    syncs: &[Uuid],
    round: &str,
    squeeze: Option<usize>,
    worker: &WorkerProcess,
) -> (FleetRound, Option<chrono::DateTime<chrono::Utc>>) {
    for folder in folders {
        for k in 0..FLEET_KEYS {
            env.put_secret(*folder, &format!("KEY_{k:03}"), &format!("{round}-{k}"))
                .await;
        }
    }
    let capped = |cap| Faults {
        max_in_flight: Some(cap),
        ..sandbox_latency(0)
    };
    env.sandbox
        .set_faults(capped(if squeeze.is_some() { 2 } else { FLEET_CAP }));
    env.sandbox.clear_requests();
    enqueue_all(env, syncs, round).await;
    let mut lifted = None;
    if let Some(refusals) = squeeze {
        let overloaded = |env: &TestEnv| {
            env.sandbox
                .requests()
                .iter()
                .filter(|r| r.fault.as_deref() == Some("overloaded"))
                .count()
        };
        eventually(Duration::from_secs(60), || async {
            let n = overloaded(env);
            if n >= refusals {
                Ok(())
            } else {
                Err(format!("{n} of {refusals} writes refused"))
            }
        })
        .await;
        env.sandbox.set_faults(capped(FLEET_CAP));
        lifted = Some(chrono::Utc::now());
    }
    wait_trigger(env, round, syncs.len(), worker).await;
    let requests = env.sandbox.requests();
    if std::env::var("FLEET_DEBUG").is_ok() {
        let start = requests.iter().map(|r| r.received_at).min();
        if let Some(start) = start {
            let mut buckets = std::collections::BTreeMap::new();
            for r in requests
                .iter()
                .filter(|r| r.fault.as_deref() == Some("overloaded"))
            {
                *buckets
                    .entry((r.received_at - start).num_milliseconds() / 100)
                    .or_insert(0) += 1;
            }
            println!("{round}: refusals per 100 ms from the first request: {buckets:?}");
            // Mean writes in flight at the server per 100 ms (answered ones).
            let mut busy = std::collections::BTreeMap::new();
            for r in requests
                .iter()
                .filter(|r| r.method != "GET" && r.fault.is_none())
            {
                let from = (r.received_at - start).num_microseconds().unwrap_or(0);
                let to = (r.finished_at - start).num_microseconds().unwrap_or(0);
                let mut b = from / 100_000;
                while b * 100_000 < to {
                    let overlap = to.min((b + 1) * 100_000) - from.max(b * 100_000);
                    *busy.entry(b).or_insert(0i64) += overlap;
                    b += 1;
                }
            }
            let busy: Vec<String> = busy
                .values()
                .map(|us| format!("{:.0}", *us as f64 / 100_000.0))
                .collect();
            println!("{round}: writes in flight per 100 ms: {}", busy.join(" "));
            for column in ["started_at", "finished_at"] {
                let at = env
                    .seed
                    .numbers(&format!(
                        "SELECT extract(epoch FROM {column} - (SELECT min(started_at) FROM secret_sync_jobs \
                           WHERE trigger = '{round}')) FROM secret_sync_jobs WHERE trigger = '{round}' ORDER BY started_at"
                    ))
                    .await;
                println!("{round}: jobs' {column} (s): {at:.2?}");
            }
        }
    }
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    let rejected = requests
        .iter()
        .filter(|r| r.fault.as_deref() == Some("overloaded"))
        .count();
    let failed = env
        .seed
        .numbers(&format!(
            "SELECT count(*) FROM secret_sync_jobs WHERE trigger = '{round}' AND status <> 'succeeded'"
        ))
        .await;
    assert_eq!(
        failed.first().copied(),
        Some(0.0),
        "{round}: a job did not succeed"
    );
    let round = FleetRound {
        seconds: busy_seconds(env, round).await,
        writes,
        rejected,
    };
    (round, lifted)
}

/// Seconds from `lifted` until the sandbox answered writes at 80% of its
/// cap's rate over a 200 ms span (`None`: the round ended first).
fn recovery(
    requests: &[humanitec_sandbox::RequestRecord],
    lifted: chrono::DateTime<chrono::Utc>,
) -> Option<f64> {
    let span = chrono::Duration::milliseconds(200);
    // 24 in flight at 50 ms is 480 writes/s: 96 in 200 ms.
    let wanted = (FLEET_CAP as f64 / 0.05 * 0.2 * 0.8) as usize;
    let mut done: Vec<_> = requests
        .iter()
        .filter(|r| r.method != "GET" && r.fault.is_none() && r.finished_at >= lifted)
        .map(|r| r.finished_at)
        .collect();
    done.sort();
    (0..done.len()).find_map(|i| {
        let end = done[i] + span;
        let n = done[i..].iter().take_while(|t| **t <= end).count();
        (n >= wanted).then(|| (done[i] - lifted).num_milliseconds() as f64 / 1000.0)
    })
}

async fn fleet() {
    let floor = (FLEET_KEYS * FLEET_SYNCS) as f64 / FLEET_CAP as f64 * 0.05;
    println!(
        "\n{FLEET_SYNCS} syncs of {FLEET_KEYS} keys on {FLEET_SYNCS} apps of one connection, \
         Humanitec answering in 50 ms and 429 above {FLEET_CAP} in flight \
         (floor {floor:.2} s: {} writes / {FLEET_CAP} in flight x 50 ms):",
        FLEET_KEYS * FLEET_SYNCS
    );
    println!(
        "  processes  fresh: time (x floor)  429s        after a burst of 429s: time, back at the cap after  then one process alone: time (x floor)  429s"
    );
    for processes in [1usize, 3, 10] {
        let env = env_with(apps(FLEET_SYNCS), &[("SYNC_DEBOUNCE", "0ms")]).await;
        let (connection, _) = bench_project(&env).await;
        let options = json!({"initialSyncBehavior": "overwrite-destination"});
        let mut folders = Vec::new();
        let mut syncs = Vec::new();
        for i in 0..FLEET_SYNCS {
            let folder = env
                .seed
                .create_folder("bench", "production", &format!("/fleet{i}"))
                .await;
            let sync = env
                .seed
                .create_sync(
                    "bench",
                    &format!("fleet-{i}"),
                    folder,
                    connection,
                    &app_scope(&format!("app-{i:03}")),
                    &options,
                )
                .await;
            folders.push(folder);
            syncs.push(sync);
        }
        let dir = std::env::temp_dir();
        let mut workers: Vec<WorkerProcess> = (0..processes)
            .map(|n| {
                WorkerProcess::spawn(
                    WORKER_EXE,
                    &env.settings,
                    &[
                        ("RUST_LOG", "warn".into()),
                        // A write may meet several 429s in a burst; the job
                        // keeps its slot rather than going round the broker.
                        ("HTTP_RETRIES", "8".into()),
                    ],
                    &dir.join(format!("secret-sync-bench-fleet-{processes}-{n}.log")),
                )
            })
            .collect();
        let (fresh, _) = fleet_round(
            &env,
            &folders,
            &syncs,
            &format!("fleet-{processes}-fresh"),
            None,
            &workers[0],
        )
        .await;
        let (burst, lifted) = fleet_round(
            &env,
            &folders,
            &syncs,
            &format!("fleet-{processes}-burst"),
            Some(60),
            &workers[0],
        )
        .await;
        let back = lifted.and_then(|at| recovery(&env.sandbox.requests(), at));
        for mut w in workers.drain(1..) {
            w.terminate(Duration::from_secs(30)).await;
        }
        let (alone, _) = fleet_round(
            &env,
            &folders,
            &syncs,
            &format!("fleet-{processes}-alone"),
            None,
            &workers[0],
        )
        .await;
        for mut w in workers {
            w.terminate(Duration::from_secs(30)).await;
        }
        println!(
            "  {processes:>9}  {:>6.2} s ({:>4.2}x)  {:>3} of {:>4}   {:>6.2} s, {:>28}  {:>6.2} s ({:>4.2}x)  {:>3} of {:>4}",
            fresh.seconds,
            fresh.seconds / floor,
            fresh.rejected,
            fresh.writes,
            burst.seconds,
            back.map_or("not within the round".to_string(), |b| format!("{b:.2} s")),
            alone.seconds,
            alone.seconds / floor,
            alone.rejected,
            alone.writes,
        );
        env.finish().await;
    }
}

/// `GET` of every sync of a project of 1,000 and of one of 10,000, from a
/// `secret-sync api` process: time to the last byte, and the process's
/// peak RSS after each (it stays flat: the list is streamed).
async fn list_at_scale() {
    let env = env_with(SandboxConfig::demo(), &[]).await;
    let (connection, folder) = bench_project(&env).await;
    env.seed.create_project("big", "Big").await;
    let big_connection = env.seed.create_connection("big", "conn", ADMIN_TOKEN).await;
    let big_folder = env.seed.create_folder("big", "production", "/").await;
    env.seed
        .create_syncs("bench", "s", folder, connection, ORG, 1..=1_000)
        .await;
    env.seed
        .create_syncs("big", "s", big_folder, big_connection, ORG, 1..=10_000)
        .await;
    let token = env.api_token(&["bench", "big"], "read").await;
    let log = std::env::temp_dir().join("secret-sync-bench-list-api.log");
    let mut api = WorkerProcess::spawn_with(
        WORKER_EXE,
        &["api"],
        &env.settings,
        &[("RUST_LOG", "warn".into())],
        &log,
    );
    api.wait_ready_status(200, Duration::from_secs(60)).await;
    let pid = api.pid().expect("api pid");
    let http = reqwest::Client::new();
    let before = peak_rss_kb(pid);
    println!("\nGET /api/v1/secret-syncs/humanitec?projectId=… (every sync, one answer), `secret-sync api`:");
    println!("  syncs    time       bytes   peak RSS after (started at {before} kB)");
    for (project, n) in [
        ("bench", 1_000usize),
        ("big", 10_000),
        ("bench", 1_000),
        ("big", 10_000),
    ] {
        let t0 = Instant::now();
        let resp = http
            .get(format!(
                "http://{}/api/v1/secret-syncs/humanitec?projectId={project}",
                api.http
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("list request");
        assert_eq!(resp.status().as_u16(), 200);
        let body = resp.bytes().await.expect("list body");
        let took = t0.elapsed();
        let listed: serde_json::Value = serde_json::from_slice(&body).expect("JSON list");
        assert_eq!(listed["secretSyncs"].as_array().map(Vec::len), Some(n));
        println!(
            "  {n:>6}  {:>6.3} s  {:>10}  {} kB",
            took.as_secs_f64(),
            body.len(),
            peak_rss_kb(pid)
        );
    }
    api.terminate(Duration::from_secs(30)).await;
    env.finish().await;
}
