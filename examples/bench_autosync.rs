//! Benchmark: event-to-destination latency of auto-sync.
//!
//! `cargo run --release --example bench_autosync`
//!
//! Measures, for a secret changed in a folder with an auto-sync sync, the
//! time from publishing its `secret.changed` event to the new value being
//! in Humanitec (the sandbox, with `BENCH_LATENCY_MS` per call, default 20),
//! at idle and while 100 events/s (each after a real change) arrive for ten
//! other folders. Prints p50/p95/p99. Honours `SYNC_DEBOUNCE` (default
//! 250ms) and `WORKER_CONCURRENCY`. Needs local Postgres and RabbitMQ.

use std::time::{Duration, Instant};

use humanitec_sandbox::Faults;
use secret_sync::queue::SecretChanged;
use secret_sync_testkit::{app_scope, TestEnv, ORG};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const SAMPLES: usize = 100;
const LOAD_FOLDERS: usize = 10;
const LOAD_EVENTS_PER_SEC: u64 = 100;

#[tokio::main]
async fn main() {
    secret_sync::init_logging(&secret_sync::config::LogFormat::Text, "error");
    let passthrough = |name: &str| match name {
        "SYNC_DEBOUNCE" | "WORKER_CONCURRENCY" | "DATABASE_POOL_SIZE" => {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        }
        _ => None,
    };
    let mut env = TestEnv::with(passthrough).await;
    let latency_ms: u64 = std::env::var("BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    env.sandbox.set_faults(Faults {
        latency_ms,
        ..Faults::default()
    });
    let project = "proj";
    env.seed.create_project(project, "Project").await;
    let connection = env
        .seed
        .create_connection(project, "conn", secret_sync_testkit::ADMIN_TOKEN)
        .await;
    let mut folders = Vec::new();
    for i in 0..=LOAD_FOLDERS {
        let path = format!("/f{i}");
        let folder = env.seed.create_folder(project, "production", &path).await;
        env.put_secret(folder, "A", "0").await;
        let options = json!({"initialSyncBehavior": "overwrite-destination",
                             "keySchema": format!("F{i}_{{{{secretKey}}}}")});
        env.seed
            .create_sync(
                project,
                &format!("s{i}"),
                folder,
                connection,
                &app_scope("api"),
                &options,
            )
            .await;
        folders.push((folder, path));
    }
    env.start_worker().await;
    println!(
        "auto-sync latency, event published -> value in Humanitec; sandbox latency {latency_ms} ms per call, SYNC_DEBOUNCE {}, {SAMPLES} samples each",
        humantime::format_duration(env.settings.sync_debounce)
    );

    let idle = measure(&env, &folders[0]).await;
    report("idle", idle);

    let stop = CancellationToken::new();
    let load = tokio::spawn(background_load(
        env.settings.clone(),
        env.settings.database_url.clone(),
        folders[1..].to_vec(),
        stop.clone(),
    ));
    // Let the background load reach its pace before measuring under it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let busy = measure(&env, &folders[0]).await;
    stop.cancel();
    let sent = load.await.unwrap_or(0);
    report(
        &format!("under {LOAD_EVENTS_PER_SEC} events/s ({sent} load events)"),
        busy,
    );
    env.finish().await;
}

/// Changes the secret, publishes the event, waits for the value.
async fn measure(env: &TestEnv, (folder, path): &(Uuid, String)) -> Vec<Duration> {
    let key = "F0_A";
    let event = SecretChanged {
        project_id: "proj".into(),
        environment: "production".into(),
        path: path.clone(),
    };
    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let value = format!("v{i}-{}", Uuid::new_v4().simple());
        env.put_secret(*folder, "A", &value).await;
        let t0 = Instant::now();
        env.client.publish_change(&event).await.expect("publish");
        // Not `eventually`: this loop is the stopwatch, so it polls every
        // millisecond instead of backing off.
        let deadline = t0 + Duration::from_secs(60);
        loop {
            let arrived = env
                .sandbox
                .values(ORG, "api", None)
                .iter()
                .any(|v| v.key == key && v.value == value);
            if arrived {
                samples.push(t0.elapsed());
                break;
            }
            assert!(Instant::now() < deadline, "value never arrived");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Pacing between samples; nothing is asserted on it.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    samples
}

/// Changes a secret and publishes its event, 100 times a second, round
/// robin over `folders`, until `stop`. Returns how many it sent.
async fn background_load(
    settings: secret_sync::Settings,
    seed_url: String,
    folders: Vec<(Uuid, String)>,
    stop: CancellationToken,
) -> usize {
    let store = secret_sync::Store::connect(&settings.database_url, 2).expect("store");
    let client = secret_sync::JobClient::connect(&settings, store)
        .await
        .expect("broker");
    let cipher =
        secret_sync::Cipher::from_base64_key(settings.encryption_key.as_deref().expect("key"))
            .expect("key");
    let seed = secret_sync_testkit::Seeder::connect(&seed_url, cipher).await;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / LOAD_EVENTS_PER_SEC));
    let mut sent = 0;
    while !stop.is_cancelled() {
        tick.tick().await;
        let (folder, path) = &folders[sent % folders.len()];
        seed.put_secret(*folder, "A", &sent.to_string(), None).await;
        let event = SecretChanged {
            project_id: "proj".into(),
            environment: "production".into(),
            path: path.clone(),
        };
        client.publish_change(&event).await.expect("publish");
        sent += 1;
    }
    client.close().await;
    sent
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    println!(
        "{label:<40} p50 {:>6.0} ms   p95 {:>6.0} ms   p99 {:>6.0} ms   max {:>6.0} ms",
        pct(0.50),
        pct(0.95),
        pct(0.99),
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
}
