//! Fewest calls, pinned by the sandbox's request log (counts, not times),
//! and the adaptive write limit backing off from a rate-limited Humanitec.

use humanitec_sandbox::Faults;
use secret_sync::engine::SHOW_RUNNING_AFTER;
use secret_sync::JobStatus;
use secret_sync_testkit::*;

fn methods(env: &TestEnv) -> Vec<String> {
    env.sandbox
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect()
}

#[tokio::test]
async fn request_counts_no_change_one_change_and_a_500_key_first_sync() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let keys: Vec<(String, String)> = (0..500)
        .map(|i| (format!("KEY_{i:03}"), format!("value-{i}")))
        .collect();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let src = env.source("production", &pairs).await;
    let big = env.sync(&src, "big", app_scope("api"), options()).await;
    let row = env.run_sync(big).await;
    assert_eq!(
        (row.status, row.created),
        (JobStatus::Succeeded, 500),
        "{:?}",
        row.message
    );
    let log = methods(&env);
    assert_eq!(
        log.len(),
        501,
        "500 new keys at app scope: 1 GET + 500 POST"
    );
    assert_eq!(log.iter().filter(|m| *m == "POST").count(), 500);

    env.sandbox.clear_requests();
    let row = env.run_sync(big).await;
    assert_eq!(row.unchanged, 500);
    assert_eq!(methods(&env), vec!["GET"], "no change: one request");

    // 1 of 50 changed, in another app.
    let small_keys: Vec<(String, String)> = (0..50)
        .map(|i| (format!("S_{i:02}"), format!("v{i}")))
        .collect();
    let small_pairs: Vec<(&str, &str)> = small_keys
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let small_src = env.source("staging", &small_pairs).await;
    let small = env
        .sync(&small_src, "small", app_scope("web"), options())
        .await;
    assert_eq!(env.run_sync(small).await.status, JobStatus::Succeeded);
    env.put_secret(small_src.folder, "S_07", "rotated").await;
    env.sandbox.clear_requests();
    let row = env.run_sync(small).await;
    assert_eq!((row.updated, row.unchanged), (1, 49));
    assert_eq!(
        methods(&env),
        vec!["GET", "PATCH"],
        "one change: two requests"
    );
    env.finish().await;
}

#[tokio::test]
async fn the_write_limit_backs_off_when_humanitec_rejects_bursts() {
    const MAX_IN_FLIGHT: usize = 6;
    let mut env = TestEnv::with(|name| match name {
        "HTTP_RETRIES" => Some("8".into()),
        _ => None,
    })
    .await;
    env.sandbox.set_faults(Faults {
        latency_ms: 20,
        max_in_flight: Some(MAX_IN_FLIGHT),
        ..Faults::default()
    });
    env.start_worker().await;
    let keys: Vec<(String, String)> = (0..200)
        .map(|i| (format!("K_{i:03}"), format!("v{i}")))
        .collect();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let src = env.source("production", &pairs).await;
    let sync = env.sync(&src, "burst", app_scope("api"), options()).await;
    let row = env.run_sync(sync).await;
    assert_eq!(
        (row.status, row.created),
        (JobStatus::Succeeded, 200),
        "{:?}",
        row.message
    );
    assert_eq!(env.sandbox.values(ORG, "api", None).len(), 200);
    let rejected = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.fault.as_deref() == Some("overloaded"))
        .count();
    let metrics = env.metrics.as_ref().expect("worker metrics").encode();
    let limit: f64 = metrics
        .lines()
        .find(|l| l.starts_with("secret_sync_humanitec_write_limit{stat=\"max\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no write limit in {metrics}"));
    println!("200 writes against a 429 above {MAX_IN_FLIGHT} in flight: {rejected} rejected, limit ended at {limit:.1}");
    assert!(rejected > 0, "the test provoked the limit");
    // It climbs one step past the cap to try it, and is cut when that one
    // request is refused: it ends at most one above the cap.
    assert!(
        limit <= MAX_IN_FLIGHT as f64 + 1.0,
        "the limit backed off: {limit}"
    );
    assert!(
        rejected <= 200 / 5,
        "{rejected} of 200 writes refused: the window should settle at the cap"
    );
    env.finish().await;
}

/// The database side of "fewest calls": a no-op sync job sends 7
/// statements to Postgres (counted by the worker's store, transaction
/// control not counted): take the lease (reading the job row); open the job
/// under it (marker, sync, latest success); the source, the other syncs at
/// the destination and the connection; the pushed keys; the outcome (the
/// whole job row), releasing the lease. It is over before it would be
/// marked running (`SHOW_RUNNING_AFTER`).
#[tokio::test]
async fn a_no_op_sync_job_sends_seven_statements_to_postgres() {
    let mut env = TestEnv::with(|name| match name {
        // No background tick (gauges, rescuer, reaper, notification
        // outbox) inside the window.
        "METRICS_REFRESH"
        | "JOB_RESCUE_EVERY"
        | "JOB_STALE_AFTER"
        | "NOTIFY_POLL_EVERY"
        | "HUMANITEC_FLEET_EVERY" => Some("1h".into()),
        "SYNC_DEBOUNCE" => Some("0ms".into()),
        _ => None,
    })
    .await;
    env.start_worker().await;
    let src = env.source("production", &[("A", "1"), ("B", "2")]).await;
    let mut syncs = Vec::new();
    for i in 0..10 {
        let schema = serde_json::json!({"initialSyncBehavior": "overwrite-destination",
                                        "keySchema": format!("S{i}_{{{{secretKey}}}}")});
        let sync = env
            .sync(&src, &format!("s{i}"), app_scope("api"), schema)
            .await;
        let row = env.run_sync(sync).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
        syncs.push(sync);
    }
    let store = env.worker_store.clone().expect("a worker runs");
    let before = store.statements_sent();
    // A run that took longer than `SHOW_RUNNING_AFTER` (a loaded machine)
    // was marked running: one statement more, and only for such a run.
    let mut slow = 0;
    for &sync in &syncs {
        let row = env.run_sync(sync).await;
        assert_eq!((row.status, row.unchanged), (JobStatus::Succeeded, 2));
        let ran = row.finished_at.zip(row.started_at).map(|(f, s)| f - s);
        if ran.is_none_or(|ran| ran.to_std().unwrap_or_default() >= SHOW_RUNNING_AFTER) {
            slow += 1;
        }
    }
    let sent = store.statements_sent() - before;
    assert!(
        (7 * 10..=7 * 10 + slow).contains(&sent),
        "statements for 10 no-op sync jobs ({slow} of them slow): {sent}"
    );
    env.finish().await;
}
