//! Real failures during real runs: worker processes SIGKILLed mid-job, the
//! broker and the database cut away from a running worker, and a flaky
//! Humanitec. Each test breaks only what it owns (its own worker processes,
//! its own proxies, its own sandbox), so the shared Postgres and RabbitMQ
//! and the tests running beside it are untouched. Figures are printed
//! (`cargo test --test it faults:: -- --nocapture`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use humanitec_sandbox::{Fault, Faults, RandomFaults};
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::json;
use uuid::Uuid;

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");

/// One sync of a fleet: its own folder, its own keys in app `api`.
struct Member {
    index: usize,
    sync: Uuid,
    folder: Uuid,
}

fn prefix(index: usize) -> String {
    format!("S{index:03}_")
}

/// `n` syncs from `n` folders into app `api`, kept apart by key schemas.
async fn fleet(env: &TestEnv, n: usize) -> Vec<Member> {
    env.seed.create_project("proj", "Project").await;
    let connection = env
        .seed
        .create_connection("proj", "conn", ADMIN_TOKEN)
        .await;
    let mut members = Vec::with_capacity(n);
    for index in 0..n {
        let folder = env
            .seed
            .create_folder("proj", &format!("e{index:03}"), "/app")
            .await;
        env.put_secret(folder, "K", &format!("k0-{index}")).await;
        env.put_secret(folder, "L", &format!("l-{index}")).await;
        let options = json!({
            "initialSyncBehavior": "overwrite-destination",
            "keySchema": format!("{}{{{{secretKey}}}}", prefix(index)),
        });
        let sync = env
            .seed
            .create_sync(
                "proj",
                &format!("s{index:03}"),
                folder,
                connection,
                &app_scope("api"),
                &options,
            )
            .await;
        members.push(Member {
            index,
            sync,
            folder,
        });
    }
    members
}

/// Humanitec holds exactly the fleet's source values, under its keys.
async fn assert_humanitec_matches_source(env: &TestEnv, fleet: &[Member]) {
    let mut expected = BTreeMap::new();
    for m in fleet {
        for (k, v) in env.seed.folder_values(m.folder).await {
            expected.insert(format!("{}{k}", prefix(m.index)), v);
        }
    }
    let actual = env.humanitec_values("api", None);
    assert_eq!(
        actual.len(),
        expected.len(),
        "number of values in Humanitec"
    );
    assert!(actual == expected, "Humanitec differs from the source");
}

async fn assert_every_sync_succeeded(env: &TestEnv, fleet: &[Member]) {
    for m in fleet {
        let row = env.sync_row(m.sync).await;
        assert_eq!(
            row.sync_status,
            Some(JobStatus::Succeeded),
            "sync {}: {:?}",
            m.index,
            row.last_sync_message
        );
    }
}

async fn count(env: &TestEnv, sql: &str) -> i64 {
    env.seed
        .client()
        .query_one(sql, &[])
        .await
        .expect("count")
        .get(0)
}

fn log_path(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}.log", Uuid::new_v4().simple()));
    println!("worker log: {}", path.display());
    path
}

async fn enqueue_all(env: &TestEnv, members: &[Member]) -> Vec<Uuid> {
    let mut jobs = Vec::with_capacity(members.len());
    for m in members {
        jobs.push(env.enqueue(m.sync).await);
    }
    jobs
}

/// Waits for all jobs to be final; returns the rows.
async fn final_rows(env: &TestEnv, jobs: &[Uuid]) -> Vec<secret_sync::store::JobRow> {
    let mut rows = Vec::with_capacity(jobs.len());
    for job in jobs {
        rows.push(env.wait_job(*job).await);
    }
    rows
}

fn attempts_histogram(rows: &[secret_sync::store::JobRow]) -> BTreeMap<i32, usize> {
    let mut h = BTreeMap::new();
    for r in rows {
        *h.entry(r.attempt).or_default() += 1;
    }
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_sigkills_during_500_jobs_lose_nothing() {
    const SYNCS: usize = 50;
    const ROUNDS: usize = 10;
    const KILLS: usize = 5;
    let env = TestEnv::with(|name| match name {
        "JOB_STALE_AFTER" => Some("2s".into()),
        _ => None,
    })
    .await;
    env.sandbox.set_faults(Faults {
        latency_ms: 20,
        ..Faults::default()
    });
    let fleet = fleet(&env, SYNCS).await;
    let log = log_path("sigkill");
    let started = Instant::now();
    let mut worker = WorkerProcess::spawn(EXE, &env.settings, &[], &log);

    // Rounds of "the source changes, every sync is enqueued", while the
    // killer SIGKILLs whichever worker process is running a job.
    // The two sides pace each other so the kills spread over the run: kill
    // k waits for round 2k-1 to be enqueued, round r waits for kill (r-1)/2.
    let (rounds_tx, mut rounds_rx) = tokio::sync::watch::channel(0usize);
    let (kills_tx, mut kills_rx) = tokio::sync::watch::channel(0usize);
    let enqueuer = async {
        let mut jobs = Vec::new();
        for round in 1..=ROUNDS {
            kills_rx
                .wait_for(|k| *k >= (round - 1) / 2)
                .await
                .expect("killer runs");
            for m in &fleet {
                env.put_secret(m.folder, "K", &format!("k{round}-{}", m.index))
                    .await;
                jobs.push(env.enqueue(m.sync).await);
            }
            rounds_tx.send_replace(round);
            // Pacing only: spreads the rounds over the run; nothing below
            // depends on how long this is.
            pace::hold(Duration::from_millis(100)).await;
        }
        jobs
    };
    let killer = async {
        let (mut spawned, mut interrupted) = (1, 0);
        for kill in 1..=KILLS {
            rounds_rx
                .wait_for(|r| *r >= 2 * kill - 1)
                .await
                .expect("enqueuer runs");
            let pid = worker.pid().expect("worker runs");
            // A job in its run holds its sync's lease (`<worker id> <job id>`)
            // from before its first read until its outcome is written.
            let busy =
                format!("SELECT count(*) FROM secret_syncs WHERE lease_holder LIKE '%:{pid} %'");
            let running = || async {
                let n = count(&env, &busy).await;
                seen(n, |n| *n > 0)
                    .map_err(|_| format!("worker {pid} runs no job; log: {}", log.display()))
            };
            eventually(Duration::from_secs(30), running).await;
            // Vary the moment within the run a little (on purpose, not a
            // wait); then kill at once when a job is seen running, so the
            // kill hits one.
            pace::hold(Duration::from_millis(10 * kill as u64)).await;
            interrupted += eventually(Duration::from_secs(30), running).await;
            worker.kill().await;
            kills_tx.send_replace(kill);
            worker = WorkerProcess::spawn(EXE, &env.settings, &[], &log);
            spawned += 1;
        }
        (spawned, interrupted)
    };
    let (jobs, (spawned, interrupted)) = tokio::join!(enqueuer, killer);
    let kills = *kills_tx.borrow();
    let rows = final_rows(&env, &jobs).await;
    let wall = started.elapsed();

    let mut runs = 0;
    let mut skipped = 0;
    for row in &rows {
        match row.status {
            JobStatus::Succeeded => runs += 1,
            JobStatus::Skipped
                if row
                    .message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Skipped: superseded")) =>
            {
                skipped += 1
            }
            other => panic!("job {} ended {other}: {:?}", row.id, row.message),
        }
    }
    println!(
        "sigkill: {} jobs ({SYNCS} syncs x {ROUNDS} rounds), {kills} SIGKILLs ({interrupted} jobs running when killed), {spawned} worker processes, \
         {runs} runs, {skipped} skipped as superseded, wall {:.1} s",
        jobs.len(),
        wall.as_secs_f64()
    );
    assert_eq!(jobs.len(), SYNCS * ROUNDS);
    assert_eq!(kills, KILLS);
    assert!(interrupted >= KILLS as i64, "every kill hit a running job");
    assert_eq!(runs + skipped, jobs.len(), "every job has a final row");
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM secret_sync_jobs WHERE status IN ('running', 'pending')"
        )
        .await,
        0,
        "no row left running or pending"
    );
    // The last round's values are the ones in Humanitec.
    let k = env.sandbox.values(ORG, "api", None);
    assert!(k
        .iter()
        .filter(|v| v.key.ends_with("_K"))
        .all(|v| v.value.starts_with(&format!("k{ROUNDS}-"))));
    finish_checked(env, &fleet, worker).await;
}

/// The end of a fleet's run: every sync succeeded and Humanitec holds what
/// the sources hold; then the worker and the harness stop.
async fn finish_checked(env: TestEnv, fleet: &[Member], mut worker: WorkerProcess) {
    assert_every_sync_succeeded(&env, fleet).await;
    assert_humanitec_matches_source(&env, fleet).await;
    worker.kill().await;
    worker.remove_log();
    env.finish().await;
}

/// The `retry_in_ms` of each "broker session ended" line of a JSON log.
fn reconnect_delays(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["fields"]["message"] == "broker session ended; reconnecting")
        .filter_map(|v| v["fields"]["retry_in_ms"].as_u64())
        .collect()
}

/// Samples `/readyz` for `hold`, four times a second; every answer must be
/// 503. (A deadline loop on purpose: it asserts a state holds for the
/// whole cut.)
async fn assert_unready_for(worker: &WorkerProcess, hold: Duration) -> usize {
    let until = Instant::now() + hold;
    let mut sampler = pace::Pacer::every(Duration::from_millis(250));
    let mut samples = 0;
    while Instant::now() < until {
        let answer = worker.get("/readyz").await;
        assert_eq!(
            answer.as_ref().map(|(s, _)| *s),
            Some(503),
            "/readyz during the cut: {answer:?}"
        );
        samples += 1;
        sampler.tick().await;
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_process_rides_out_a_broker_cut_then_a_database_cut() {
    const CUT: Duration = Duration::from_secs(10);
    let env = TestEnv::with(|name| match name {
        "SYNC_BUSY_DELAY" => Some("300ms".into()),
        // A job cut off from the database cannot release its sync's lease;
        // the lease then expires after this long (2 min by default).
        "JOB_STALE_AFTER" => Some("3s".into()),
        _ => None,
    })
    .await;
    env.sandbox.set_faults(Faults {
        latency_ms: 40,
        ..Faults::default()
    });
    let fleet = fleet(&env, 200).await;
    let (broker_proxy, amqp_url) = Proxy::in_front_of(&env.settings.amqp_url).await;
    let (db_proxy, database_url) = Proxy::in_front_of(&env.settings.database_url).await;
    let log = log_path("cuts");
    let mut worker = WorkerProcess::spawn(
        EXE,
        &env.settings,
        &[
            ("AMQP_URL", amqp_url),
            ("DATABASE_URL", database_url),
            ("LOG_FORMAT", "json".into()),
        ],
        &log,
    );
    let pid = worker.pid();
    worker.wait_ready_status(200, Duration::from_secs(30)).await;
    let started = Instant::now();
    let mut jobs = Vec::new();
    let mut batches = fleet.chunks(50);
    for (what, proxy) in [("broker", &broker_proxy), ("database", &db_proxy)] {
        // Jobs in flight when the cut comes, and more enqueued during it
        // (the harness talks to the servers directly, not through the proxies).
        jobs.extend(enqueue_all(&env, batches.next().expect("four batches")).await);
        let running = eventually(Duration::from_secs(30), || async {
            let sql = "SELECT count(*) FROM secret_syncs WHERE lease_token IS NOT NULL";
            seen(count(&env, sql).await, |n| *n > 0)
        })
        .await;
        let cut_at = Instant::now();
        proxy.cut();
        let noticed = worker.wait_ready_status(503, Duration::from_secs(5)).await;
        jobs.extend(enqueue_all(&env, batches.next().expect("four batches")).await);
        let samples = assert_unready_for(&worker, CUT.saturating_sub(cut_at.elapsed())).await;
        proxy.restore();
        let recovered = worker.wait_ready_status(200, Duration::from_secs(60)).await;
        println!(
            "{what} cut {:.1} s with {running} job(s) running: /readyz 503 after {} ms ({samples} samples, all 503), 200 again {} ms after restore",
            CUT.as_secs_f64(),
            noticed.as_millis(),
            recovered.as_millis()
        );
    }
    let rows = final_rows(&env, &jobs).await;
    let wall = started.elapsed();
    for row in &rows {
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    }

    // A second, short broker outage later in the same process's life: the
    // reconnect backoff starts over after the healthy session in between.
    let logged_before = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
    broker_proxy.cut();
    worker.wait_ready_status(503, Duration::from_secs(5)).await;
    // The outage itself, held open for 2 s (the reconnect attempts happen
    // in it); what is asserted is read after the worker is ready again.
    pace::hold(Duration::from_secs(2)).await;
    broker_proxy.restore();
    let recovered = worker.wait_ready_status(200, Duration::from_secs(60)).await;
    let log_text = std::fs::read(&log).expect("worker log");
    let retries = reconnect_delays(&String::from_utf8_lossy(&log_text[logged_before..]));
    println!(
        "second broker cut 2.0 s: 200 again {} ms after restore; reconnect delays {retries:?} ms",
        recovered.as_millis()
    );
    // The first delay is 0.5 s plus up to as much again of jitter.
    assert!(
        retries.first().is_some_and(|ms| (500..=1000).contains(ms)),
        "after a healthy session the reconnect backoff starts over: {retries:?}"
    );
    assert!(worker.is_running(), "the worker process survived both cuts");
    assert_eq!(worker.pid(), pid, "the same process");
    println!(
        "cuts: {} jobs all succeeded in one process, wall {:.1} s; attempts {:?}; proxy refused {} broker and {} database connections",
        rows.len(),
        wall.as_secs_f64(),
        attempts_histogram(&rows),
        broker_proxy.refused(),
        db_proxy.refused()
    );
    assert_eq!(rows.len(), 200);
    finish_checked(env, &fleet, worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_one_of_ten_broker_cuts_is_noticed_and_ridden_out() {
    const CUTS: usize = 10;
    let env = TestEnv::new().await;
    env.sandbox.set_faults(Faults {
        latency_ms: 40,
        ..Faults::default()
    });
    let fleet = fleet(&env, 20).await;
    let (broker_proxy, amqp_url) = Proxy::in_front_of(&env.settings.amqp_url).await;
    let log = log_path("many-cuts");
    let mut worker = WorkerProcess::spawn(
        EXE,
        &env.settings,
        &[("AMQP_URL", amqp_url), ("LOG_FORMAT", "json".into())],
        &log,
    );
    worker.wait_ready_status(200, Duration::from_secs(30)).await;
    let mut jobs = Vec::new();
    let (mut noticed, mut recovered) = (Vec::new(), Vec::new());
    for _ in 0..CUTS {
        // Jobs in flight at every cut: the cut comes once the worker has
        // taken one of them (every assertion below holds whether or not a
        // job is still running at the cut).
        let batch = enqueue_all(&env, &fleet).await;
        eventually(Duration::from_secs(30), || async {
            let taken: i64 = env
                .seed
                .client()
                .query_one(
                    "SELECT count(*) FROM secret_sync_jobs WHERE id = ANY($1) AND status <> 'pending'",
                    &[&batch],
                )
                .await
                .expect("count")
                .get(0);
            seen(taken, |n| *n > 0).map_err(|_| "the worker took none of the batch yet")
        })
        .await;
        jobs.extend(batch);
        broker_proxy.cut();
        noticed.push(worker.wait_ready_status(503, Duration::from_secs(10)).await);
        // The outage itself, held open for 1 s.
        pace::hold(Duration::from_secs(1)).await;
        broker_proxy.restore();
        recovered.push(worker.wait_ready_status(200, Duration::from_secs(30)).await);
    }
    let rows = final_rows(&env, &jobs).await;
    for row in &rows {
        assert!(
            matches!(row.status, JobStatus::Succeeded | JobStatus::Skipped),
            "{:?}: {:?}",
            row.status,
            row.message
        );
    }
    let ms = |d: &[Duration]| d.iter().map(|d| d.as_millis()).collect::<Vec<_>>();
    println!(
        "{CUTS} broker cuts of 1 s: /readyz 503 after {:?} ms, 200 again after {:?} ms; {} jobs final",
        ms(&noticed),
        ms(&recovered),
        rows.len()
    );
    assert!(worker.is_running());
    finish_checked(env, &fleet, worker).await;
}

/// The API cut off from RabbitMQ: a trigger answers 503 with Retry-After
/// and a message that says what to do, and queues nothing (no job row, no
/// queued marker left on the sync). Once the broker is back, the same
/// trigger queues a job that runs (a marker left behind would have folded
/// it into the job that was never published, and it would never run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_while_rabbitmq_is_unreachable_answers_503_and_queues_nothing() {
    let mut env = TestEnv::new().await;
    let (src, sync) = env.one_sync().await;
    env.start_worker().await;
    let (broker_proxy, amqp_url) = Proxy::in_front_of(&env.settings.amqp_url).await;
    env.settings.amqp_url = amqp_url;
    let base = env.start_api().await;
    let token = env.api_token(&[&src.project], "write").await;
    let http = reqwest::Client::new();
    let trigger = || {
        http.post(format!(
            "{base}/api/v1/secret-syncs/humanitec/{sync}/sync-secrets"
        ))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
    };

    broker_proxy.cut();
    let response = trigger().await.expect("the API answers");
    assert_eq!(response.status().as_u16(), 503);
    let retry_after = response.headers().get("retry-after").cloned();
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert_eq!(retry_after.as_ref().map(|v| v.as_bytes()), Some(&b"1"[..]));
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("RabbitMQ is unavailable") && message.contains("nothing was queued"),
        "{body}"
    );
    assert_eq!(body["statusCode"], 503, "{body}");
    let sql = "SELECT count(*) FROM secret_sync_jobs";
    assert_eq!(
        count(&env, sql).await,
        0,
        "no job row for a refused trigger"
    );

    broker_proxy.restore();
    let response = trigger().await.expect("the API answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    let job = body["secretSync"]["lastSyncJobId"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| panic!("a 200 names its job: {body}"));
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(
        env.humanitec_values("api", None)
            .get("A")
            .map(String::as_str),
        Some("1")
    );
    println!(
        "broker cut: the trigger answered 503 ({message}); after restore 200 and job {job} succeeded; proxy refused {} connection(s)",
        broker_proxy.refused()
    );
    env.finish().await;
}

/// Turning auto-sync on while RabbitMQ is unreachable, through the API or
/// the dashboard's switch: the change stands (it is not an error to the
/// person who made it), and the sync says its job was not queued and how to
/// queue it. With the broker back, Sync now runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_sync_turned_on_while_rabbitmq_is_unreachable_stands_and_says_to_sync_now() {
    let mut env = TestEnv::new().await;
    let src = env.source("production", &[("A", "1")]).await;
    let by_api = env.sync(&src, "api", app_scope("api"), options()).await;
    let by_switch = env.sync(&src, "switch", app_scope("web"), options()).await;
    env.seed
        .execute_sql("UPDATE secret_syncs SET is_auto_sync_enabled = false")
        .await;
    env.start_worker().await;
    let (broker_proxy, amqp_url) = Proxy::in_front_of(&env.settings.amqp_url).await;
    env.settings.amqp_url = amqp_url;
    let base = env.start_api().await;
    let token = env.api_token(&[&src.project], "write").await;
    // Redirects are read, not followed.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = dashboard_sign_in(&http, &base, &token).await;
    let sync_page = || async {
        http.get(format!("{base}/syncs/{by_switch}"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("the sync's page")
            .text()
            .await
            .expect("body")
    };
    let csrf = csrf_token(&sync_page().await);

    broker_proxy.cut();
    let response = http
        .patch(format!("{base}/api/v1/secret-syncs/humanitec/{by_api}"))
        .bearer_auth(&token)
        .json(&json!({"isAutoSyncEnabled": true}))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert_eq!(body["secretSync"]["isAutoSyncEnabled"], true, "{body}");

    let response = http
        .post(format!("{base}/syncs/{by_switch}/auto-sync"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("enabled", "on")])
        .send()
        .await
        .expect("the dashboard answers");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        (status, location.as_str()),
        (303, format!("/syncs/{by_switch}").as_str()),
        "the switch goes back to the sync's page: {}",
        response.text().await.unwrap_or_default()
    );

    for sync in [by_api, by_switch] {
        let view = env.sync_view(sync).await;
        assert_eq!(view["isAutoSyncEnabled"], true, "the change stands: {view}");
        assert_eq!(view["syncStatus"], "failed", "{view}");
        let message = view["lastSyncMessage"].as_str().unwrap_or_default();
        assert!(
            message.contains("could not be queued") && message.contains("Sync now"),
            "{message}"
        );
        assert!(
            !message.contains("127.0.0.1"),
            "no broker address: {message}"
        );
    }
    assert!(
        sync_page().await.contains("could not be queued"),
        "the page says it"
    );
    let sql = "SELECT count(*) FROM secret_sync_jobs";
    assert_eq!(count(&env, sql).await, 0, "nothing was queued");

    // Back: Sync now (the API's trigger here) runs it.
    broker_proxy.restore();
    let response = http
        .post(format!(
            "{base}/api/v1/secret-syncs/humanitec/{by_switch}/sync-secrets"
        ))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    let job = body["secretSync"]["lastSyncJobId"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| panic!("a 200 names its job: {body}"));
    assert_eq!(env.wait_job(job).await.status, JobStatus::Succeeded);
    assert_eq!(
        env.humanitec_values("web", None)
            .get("A")
            .map(String::as_str),
        Some("1")
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_429_and_503_still_gets_every_job_done() {
    let mut env = TestEnv::with(|name| match name {
        "HTTP_RETRIES" => Some("2".into()),
        "JOB_MAX_ATTEMPTS" => Some("5".into()),
        "JOB_RETRY_DELAYS" => Some("200ms".into()),
        _ => None,
    })
    .await;
    let fleet = fleet(&env, 200).await;
    let status = |code| Fault::Status {
        status: code,
        retry_after: None,
    };
    env.sandbox.set_faults(Faults {
        latency_ms: 5,
        random: Some(RandomFaults {
            ratio: 0.3,
            faults: vec![status(429), status(503)],
            seed: 12,
        }),
        ..Faults::default()
    });
    let started = Instant::now();
    let jobs = enqueue_all(&env, &fleet).await;
    env.start_worker().await;
    let rows = final_rows(&env, &jobs).await;
    let wall = started.elapsed();
    for row in &rows {
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    }
    let requests = env.sandbox.requests();
    let faulted = requests.iter().filter(|r| r.fault.is_some()).count();
    let histogram = attempts_histogram(&rows);
    println!(
        "flaky Humanitec: {} jobs all succeeded; {faulted} of {} requests got a 429/503 ({:.0}%); job attempts {histogram:?}; wall {:.1} s",
        rows.len(),
        requests.len(),
        100.0 * faulted as f64 / requests.len() as f64,
        wall.as_secs_f64()
    );
    assert!(faulted > 0, "faults were injected");
    assert_every_sync_succeeded(&env, &fleet).await;
    assert_humanitec_matches_source(&env, &fleet).await;
    env.finish().await;
}
