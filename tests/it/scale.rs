//! Scale-out: several worker processes share one broker and one database
//! with a small, fixed number of Postgres connections each; one run per
//! sync at a time, by a lease on the sync's row.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use humanitec_sandbox::Faults;
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::json;
use uuid::Uuid;

const WORKER_APP: &str = "secret-sync-scale-worker";

/// A `secret-sync run` child process; its logs go to `log`.
struct Worker {
    child: tokio::process::Child,
    log: PathBuf,
}

fn spawn_worker(env: &TestEnv, name: &str, dir: &Path, extra: &[(&str, &str)]) -> Worker {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_secret-sync"));
    cmd.arg("run")
        .envs(env.product_env())
        .env("HOSTNAME", name)
        .env("SYNC_BUSY_DELAY", "200ms")
        .env("RUST_LOG", "warn")
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .kill_on_drop(true);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Worker {
        child: cmd.spawn().expect("worker starts"),
        log,
    }
}

async fn stop(mut w: Worker) -> String {
    if let Some(pid) = w.child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), w.child.wait()).await;
    std::fs::read_to_string(&w.log).unwrap_or_default()
}

async fn pg(database_url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .expect("database");
    tokio::spawn(conn);
    client
}

#[tokio::test]
async fn three_processes_64_jobs_each_on_10_connections_run_600_syncs_without_overlap() {
    let env = TestEnv::new().await;
    env.sandbox.set_faults(Faults {
        latency_ms: 5,
        ..Faults::default()
    });
    let src = env.source("development", &[("A", "1")]).await;
    let mut syncs = Vec::new();
    for i in 0..600 {
        let options = json!({"initialSyncBehavior": "overwrite-destination",
                             "keySchema": format!("S{i}_{{{{secretKey}}}}")});
        syncs.push(
            env.sync(&src, &format!("s{i}"), app_scope("api"), options)
                .await,
        );
    }
    let dir = std::env::temp_dir().join(format!("scale-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // Count the workers' Postgres connections while they run.
    let peak = Arc::new(AtomicI64::new(0));
    let watcher = {
        let (peak, client) = (peak.clone(), pg(&env.settings.database_url).await);
        // A sampler, not a wait: it runs until aborted below.
        tokio::spawn(async move {
            let mut sampler = pace::Pacer::every(Duration::from_millis(20));
            loop {
                let n: i64 = client
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
                        &[&WORKER_APP],
                    )
                    .await
                    .expect("pg_stat_activity")
                    .get(0);
                peak.fetch_max(n, Ordering::Relaxed);
                sampler.tick().await;
            }
        })
    };
    let url = format!(
        "{}?application_name={WORKER_APP}",
        env.settings.database_url
    );
    let extra = [
        ("DATABASE_URL", url.as_str()),
        ("WORKER_CONCURRENCY", "64"),
        ("DATABASE_POOL_SIZE", "10"),
    ];
    let workers: Vec<Worker> = ["w1", "w2", "w3"]
        .iter()
        .map(|name| spawn_worker(&env, name, &dir, &extra))
        .collect();

    // One job per sync through the product's enqueue path, plus, for a
    // hundred of them, three duplicates straight to the broker (as another
    // service would), which the lease must keep from overlapping.
    let mut jobs = Vec::new();
    for sync in &syncs {
        jobs.push(env.enqueue(*sync).await);
    }
    for sync in &syncs[..100] {
        for _ in 0..3 {
            let job = Uuid::new_v4();
            let body = json!({"jobId": job, "syncId": sync, "type": "sync", "trigger": "dup"});
            env.publish_raw("sync", body.to_string().as_bytes()).await;
            jobs.push(job);
        }
    }
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    for job in &jobs {
        let row = env
            .wait_job_until(*job, Duration::from_secs(120), |row| row.status.is_final())
            .await;
        rows.push(row);
    }
    println!(
        "{} jobs done in {:.1}s",
        jobs.len(),
        started.elapsed().as_secs_f64()
    );
    watcher.abort();
    let mut logs = String::new();
    for w in workers {
        logs.push_str(&stop(w).await);
    }

    let mut by_worker: HashMap<String, usize> = HashMap::new();
    let mut runs: HashMap<Uuid, Vec<_>> = HashMap::new();
    for row in &rows {
        match row.status {
            JobStatus::Succeeded => {
                *by_worker
                    .entry(row.worker_id.clone().unwrap_or_default())
                    .or_default() += 1;
                runs.entry(row.sync_id).or_default().push((
                    row.started_at.expect("started"),
                    row.finished_at.expect("finished"),
                ));
            }
            JobStatus::Skipped => {}
            other => panic!("job {} ended {other}: {:?}", row.id, row.message),
        }
    }
    println!("runs per worker: {by_worker:?}");
    assert_eq!(runs.len(), 600, "every sync ran");
    let hosts: HashSet<&str> = by_worker
        .keys()
        .filter_map(|w| w.split(':').next())
        .collect();
    assert_eq!(
        hosts,
        HashSet::from(["w1", "w2", "w3"]),
        "each process ran some"
    );
    for (sync, mut spans) in runs {
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "runs of {sync} overlap: {pair:?}");
        }
    }
    let peak = peak.load(Ordering::Relaxed);
    println!(
        "peak worker connections to Postgres: {peak} (3 processes x (DATABASE_POOL_SIZE=10 + the pause listener))"
    );
    assert!(peak <= 33, "{peak} connections");
    for refused in [
        "too many clients",
        "remaining connection slots",
        "could not get a database connection",
    ] {
        assert!(!logs.contains(refused), "a worker logged `{refused}`");
    }
    let values = env.sandbox.values(ORG, "api", None);
    assert_eq!(values.len(), 600);
    assert!(values.iter().all(|v| v.value == "1"));
    let _ = std::fs::remove_dir_all(&dir);
    env.finish().await;
}

#[tokio::test]
async fn a_dead_workers_lease_expires_by_itself_and_the_busy_job_waits_for_it() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let (_, sync) = env.one_sync().await;
    // A worker took the lease and died: nobody renews or releases it.
    let db = pg(&env.settings.database_url).await;
    let expires: chrono::DateTime<Utc> = db
        .query_one(
            "UPDATE secret_syncs SET lease_token = gen_random_uuid(), lease_holder = 'dead-worker',
                    lease_expires_at = clock_timestamp() + interval '2 seconds'
              WHERE id = $1 RETURNING lease_expires_at",
            &[&sync],
        )
        .await
        .expect("lease")
        .get(0);
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    let started = row.started_at.expect("started");
    assert!(
        started >= expires,
        "ran at {started} while the lease held until {expires}"
    );
    assert_eq!(env.sandbox.values(ORG, "api", None)[0].value, "1");
    let holder: Option<String> = db
        .query_one(
            "SELECT lease_holder FROM secret_syncs WHERE id = $1",
            &[&sync],
        )
        .await
        .expect("row")
        .get(0);
    assert_eq!(holder, None, "the finished run released its lease");
    env.finish().await;
}

#[tokio::test]
async fn a_run_that_loses_its_lease_stops_writing_and_hands_the_job_back() {
    let mut env = TestEnv::with(|name| match name {
        // Heartbeat (and lease renewal) every 250 ms.
        "JOB_STALE_AFTER" => Some("1s".into()),
        _ => None,
    })
    .await;
    env.sandbox.set_faults(Faults {
        latency_ms: 1500,
        ..Faults::default()
    });
    env.start_worker().await;
    let src = env.source("production", &[("A", "1"), ("B", "2")]).await;
    let sync = env.sync(&src, "s", app_scope("api"), options()).await;
    let job = env.enqueue(sync).await;
    env.wait_job_until(job, JOB_WAIT, |row| row.status == JobStatus::Running)
        .await;
    // Another run takes the lease (as if ours had expired during a pause).
    let db = pg(&env.settings.database_url).await;
    db.execute(
        "UPDATE secret_syncs SET lease_token = gen_random_uuid(), lease_holder = 'thief',
                lease_expires_at = clock_timestamp() + interval '1 hour' WHERE id = $1",
        &[&sync],
    )
    .await
    .expect("steal");
    let stolen_at = Utc::now();
    // The run notices at its next heartbeat and hands the job back.
    let handed_back = env
        .wait_job_until(job, Duration::from_secs(10), |row| {
            row.status == JobStatus::Pending
        })
        .await;
    assert!(
        handed_back
            .message
            .as_deref()
            .is_some_and(|m| m.contains("lost its sync's lease")),
        "{:?}",
        handed_back.message
    );
    // While the other run holds the lease, this job writes nothing: once
    // the hand-back and two redeliveries that found the sync busy were
    // counted, the job has been past every point where it could write.
    eventually(JOB_WAIT, || async {
        seen(env.jobs_counted("sync", "delayed"), |n| *n >= 3)
    })
    .await;
    let writes_while_stolen = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| {
            r.method != "GET" && r.received_at > stolen_at + chrono::Duration::milliseconds(300)
        })
        .count();
    assert_eq!(writes_while_stolen, 0);
    // The other run ends: the handed-back job runs and finishes the work.
    db.execute(
        "UPDATE secret_syncs SET lease_token = NULL, lease_holder = NULL, lease_expires_at = NULL WHERE id = $1",
        &[&sync],
    )
    .await
    .expect("release");
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    let values: Vec<(String, String)> = env.humanitec_values("api", None).into_iter().collect();
    assert_eq!(
        values,
        vec![("A".into(), "1".into()), ("B".into(), "2".into())]
    );
    env.finish().await;
}

/// A failover can lose the lease's take (an asynchronous commit) while the
/// run goes on: the run must find that out before its first write, not at
/// its next heartbeat (30 s away with the default `JOB_STALE_AFTER`).
#[tokio::test]
async fn a_run_checks_its_lease_durably_before_its_first_write() {
    let mut env = TestEnv::new().await;
    env.sandbox.set_faults(Faults {
        latency_ms: 1500,
        ..Faults::default()
    });
    env.start_worker().await;
    let src = env.source("production", &[("A", "1"), ("B", "2")]).await;
    let sync = env.sync(&src, "s", app_scope("api"), options()).await;
    let job = env.enqueue(sync).await;
    env.wait_job_until(job, JOB_WAIT, |row| row.status == JobStatus::Running)
        .await;
    // While the run lists Humanitec, the lease becomes another run's: what
    // a promoted standby that never got the take looks like to a second
    // worker, which then takes it.
    let db = pg(&env.settings.database_url).await;
    db.execute(
        "UPDATE secret_syncs SET lease_token = gen_random_uuid(), lease_holder = 'after-failover',
                lease_expires_at = clock_timestamp() + interval '1 hour' WHERE id = $1",
        &[&sync],
    )
    .await
    .expect("take the lease");
    let handed_back = env
        .wait_job_until(job, Duration::from_secs(10), |row| {
            row.status == JobStatus::Pending
        })
        .await;
    assert!(
        handed_back
            .message
            .as_deref()
            .is_some_and(|m| m.contains("lost its sync's lease")),
        "{:?}",
        handed_back.message
    );
    let writes: Vec<String> = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        writes.is_empty(),
        "the run wrote without its lease: {writes:?}"
    );
    db.execute(
        "UPDATE secret_syncs SET lease_token = NULL, lease_holder = NULL, lease_expires_at = NULL WHERE id = $1",
        &[&sync],
    )
    .await
    .expect("release");
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(env.humanitec_values("api", None).len(), 2);
    env.finish().await;
}

#[tokio::test]
async fn a_job_cut_off_by_shutdown_is_handed_back_and_runs_at_once_elsewhere() {
    let mut env = TestEnv::new().await;
    env.sandbox.set_faults(Faults {
        latency_ms: 3000,
        ..Faults::default()
    });
    let src = env.source("production", &[("A", "1")]).await;
    let sync = env.sync(&src, "slow", app_scope("api"), options()).await;
    let dir = std::env::temp_dir().join(format!("scale-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let worker = spawn_worker(&env, "leaving", &dir, &[("SHUTDOWN_GRACE", "500ms")]);
    let job = env.enqueue(sync).await;
    env.wait_job_until(job, JOB_WAIT, |row| row.status == JobStatus::Running)
        .await;
    let log = stop(worker).await;
    let row = env.store.reads.job(job).await.expect("job").expect("row");
    assert_eq!(row.status, JobStatus::Pending, "{log}");
    assert!(
        row.message
            .as_deref()
            .is_some_and(|m| m.contains("worker stopped before this job finished")),
        "{:?}",
        row.message
    );
    let db = pg(&env.settings.database_url).await;
    let token: Option<Uuid> = db
        .query_one(
            "SELECT lease_token FROM secret_syncs WHERE id = $1",
            &[&sync],
        )
        .await
        .expect("row")
        .get(0);
    assert_eq!(token, None, "the lease was released");
    // Another worker runs it now, not after JOB_STALE_AFTER (2 minutes).
    env.sandbox.set_faults(Faults::default());
    env.start_worker().await;
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(env.sandbox.values(ORG, "api", None)[0].value, "1");
    let _ = std::fs::remove_dir_all(&dir);
    env.finish().await;
}
