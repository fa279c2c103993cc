//! The job lifecycle: retries, failure classes, one run per sync, shutdown.

use std::time::Duration;

use humanitec_sandbox::{Fault, Faults};
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::{json, Value};
use uuid::Uuid;

fn status(code: u16) -> Fault {
    Fault::Status {
        status: code,
        retry_after: None,
    }
}

/// With the sandbox answering `script` first, a sync job still succeeds in
/// its first attempt (retried within the process).
async fn succeeds_first_time_through(env: &TestEnv, sync: Uuid, script: Vec<Fault>) {
    env.sandbox.set_faults(Faults {
        script,
        ..Faults::default()
    });
    let row = env.run_sync(sync).await;
    assert_eq!(
        (row.status, row.attempt),
        (JobStatus::Succeeded, 1),
        "{:?}",
        row.message
    );
}

#[tokio::test]
async fn transient_errors_are_retried_in_process_and_retry_after_is_honoured() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let (src, sync) = env.one_sync().await;

    succeeds_first_time_through(&env, sync, vec![status(503), status(503)]).await;
    let statuses: Vec<u16> = env.sandbox.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        &statuses[..3],
        &[503, 503, 200],
        "two 503s, then the listing succeeds"
    );

    env.put_secret(src.folder, "A", "2").await;
    env.sandbox.clear_requests();
    env.sandbox.set_faults(Faults {
        script: vec![Fault::Status {
            status: 429,
            retry_after: Some(1),
        }],
        ..Faults::default()
    });
    let row = env.run_sync(sync).await;
    assert_eq!((row.status, row.attempt), (JobStatus::Succeeded, 1));
    let log = env.sandbox.requests();
    assert_eq!(log[0].status, 429);
    let waited = (log[1].received_at - log[0].finished_at).num_milliseconds();
    println!("waited {waited} ms after 429 with Retry-After: 1");
    assert!((950..3000).contains(&waited), "waited {waited} ms");
    assert_eq!(env.sandbox.values(ORG, "api", None)[0].value, "2");
    env.finish().await;
}

#[tokio::test]
async fn a_connection_reset_is_retried_in_process() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let (_, sync) = env.one_sync().await;
    succeeds_first_time_through(&env, sync, vec![Fault::Reset]).await;
    let log = env.sandbox.requests();
    assert_eq!(log[0].fault.as_deref(), Some("reset"));
    assert_eq!(env.sandbox.values(ORG, "api", None)[0].value, "1");
    env.finish().await;
}

#[tokio::test]
async fn a_job_that_keeps_failing_goes_pending_between_attempts_then_failed() {
    let mut env = TestEnv::with(|name| match name {
        "HTTP_RETRIES" => Some("0".into()),
        "JOB_MAX_ATTEMPTS" => Some("3".into()),
        "JOB_RETRY_DELAYS" => Some("700ms".into()),
        _ => None,
    })
    .await;
    env.start_worker().await;
    let (_, sync) = env.one_sync().await;
    env.sandbox.set_faults(Faults {
        always: Some(status(502)),
        ..Faults::default()
    });
    let job = env.enqueue(sync).await;

    // Between attempts the row says pending, with the error and the next attempt's time.
    let pending = eventually(Duration::from_secs(20), || async {
        seen(env.sync_row(sync).await, |row| {
            row.sync_status == Some(JobStatus::Pending)
                && row
                    .last_sync_message
                    .as_deref()
                    .is_some_and(|m| m.contains("Next attempt at"))
        })
    })
    .await;
    let msg = pending.last_sync_message.unwrap_or_default();
    assert!(
        msg.contains("Attempt 1 of 3 failed") && msg.contains("502"),
        "{msg}"
    );
    // An attempt that will be retried is no failure of the sync yet.
    let last_failed =
        format!("SELECT count(*) FROM secret_syncs WHERE id = '{sync}' AND last_failed_at IS NULL");
    assert_eq!(env.seed.numbers(&last_failed).await, vec![1.0]);

    let row = env.wait_job(job).await;
    assert_eq!((row.status, row.attempt), (JobStatus::Failed, 3));
    assert!(
        row.message
            .as_deref()
            .is_some_and(|m| m.starts_with("Failed after 3 attempt(s)")),
        "{:?}",
        row.message
    );
    assert_eq!(
        env.sync_row(sync).await.sync_status,
        Some(JobStatus::Failed)
    );
    // The sync's last failure (what the dashboard sorts by) is this job's end.
    let last_failed = format!(
        "SELECT count(*) FROM secret_syncs s JOIN secret_sync_jobs j ON j.sync_id = s.id
          WHERE s.id = '{sync}' AND j.id = '{job}' AND s.last_failed_at = j.finished_at"
    );
    assert_eq!(env.seed.numbers(&last_failed).await, vec![1.0]);
    // One GET per attempt, nothing else.
    assert_eq!(env.sandbox.requests().len(), 3);
    env.finish().await;
}

/// A sync to `destination` whose first job fails for good at once; its message.
async fn fails_at_once(env: &TestEnv, src: &Source, name: &str, destination: Value) -> String {
    let sync = env.sync(src, name, destination, options()).await;
    let row = env.run_sync(sync).await;
    assert_eq!((row.status, row.attempt), (JobStatus::Failed, 1));
    row.message.unwrap_or_default()
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env.source("production", &[("A", "1")]).await;

    let msg = fails_at_once(&env, &src, "unknown-app", app_scope("no-such-app")).await;
    assert!(
        msg.contains("404") && msg.contains("destination_config"),
        "{msg}"
    );

    let malformed = json!({"scope": "environment", "org": ORG, "app": "web"});
    let msg = fails_at_once(&env, &src, "malformed", malformed).await;
    assert!(
        msg.contains("destination_config is invalid") && msg.contains("env"),
        "{msg}"
    );

    let bad_option = env
        .sync(
            &src,
            "bad-option",
            app_scope("api"),
            // (The import behaviours are taken since issue 39.)
            json!({"initialSyncBehavior": "sideways"}),
        )
        .await;
    let row = env.run_sync(bad_option).await;
    let msg = row.message.unwrap_or_default();
    assert!(
        msg.contains("`sideways` is not supported: use `overwrite-destination`"),
        "{msg}"
    );

    // Only the 404 listing reached Humanitec.
    assert_eq!(env.sandbox.requests().len(), 1);
    env.finish().await;
}

#[tokio::test]
async fn twenty_jobs_two_workers_never_overlap_and_all_end_done() {
    let mut env = TestEnv::new().await;
    env.sandbox.set_faults(Faults {
        latency_ms: 40,
        ..Faults::default()
    });
    let src = env
        .source("production", &[("A", "1"), ("B", "2"), ("C", "3")])
        .await;
    let sync = env.sync(&src, "busy", app_scope("api"), options()).await;
    // A burst: all twenty are queued before either worker takes one. They
    // are published straight to the broker, as another service would (the
    // product's enqueue path would fold them into one job).
    let mut jobs = Vec::new();
    for _ in 0..20 {
        let job = uuid::Uuid::new_v4();
        let body = json!({"jobId": job, "syncId": sync, "type": "sync", "trigger": "test"});
        env.publish_raw("sync", body.to_string().as_bytes()).await;
        jobs.push(job);
    }
    env.start_worker().await;
    env.start_worker().await;
    let mut runs = Vec::new();
    let mut skipped = 0;
    for job in jobs {
        let row = env.wait_job(job).await;
        match row.status {
            JobStatus::Succeeded => runs.push((
                row.started_at.expect("started"),
                row.finished_at.expect("finished"),
            )),
            JobStatus::Skipped => skipped += 1,
            other => panic!("job ended {other}: {:?}", row.message),
        }
    }
    runs.sort();
    for pair in runs.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlap: {pair:?}");
    }
    println!(
        "20 jobs: {} runs, {skipped} skipped as superseded",
        runs.len()
    );
    assert!(
        (1..=2).contains(&runs.len()),
        "a burst costs at most two runs"
    );
    assert_eq!(runs.len() + skipped, 20);
    assert_eq!(env.sandbox.values(ORG, "api", None).len(), 3);
    env.finish().await;
}

#[tokio::test]
async fn sigterm_lets_the_running_job_finish_and_exits_zero() {
    let env = TestEnv::new().await;
    env.sandbox.set_faults(Faults {
        latency_ms: 1500,
        ..Faults::default()
    });
    let src = env.source("production", &[("A", "1")]).await;
    let sync = env.sync(&src, "slow", app_scope("api"), options()).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_secret-sync"))
        .arg("run")
        .envs(env.product_env())
        .env("SHUTDOWN_GRACE", "20s")
        .kill_on_drop(true)
        .spawn()
        .expect("worker starts");
    let job = env.enqueue(sync).await;
    env.wait_job_until(job, JOB_WAIT, |row| row.status == JobStatus::Running)
        .await;
    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("worker exits within the grace period")
        .expect("exit status");
    assert!(exit.success(), "worker exit: {exit:?}");
    let row = env.store.reads.job(job).await.expect("job").expect("row");
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(env.sandbox.values(ORG, "api", None)[0].value, "1");
    env.finish().await;
}

/// Pending lock waits in the test's database.
async fn lock_waiters(db: &tokio_postgres::Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'",
        &[],
    )
    .await
    .expect("pg_stat_activity")
    .get(0)
}

/// A sync job as a worker has it just before its work: queued (the
/// marker), its sync leased, and opened (the marker taken).
pub(crate) async fn opened_job(
    env: &TestEnv,
    sync: Uuid,
) -> (
    secret_sync::model::Job,
    secret_sync::store::SyncLease,
    secret_sync::store::JobStart,
) {
    use secret_sync::model::{Debounce, Job, JobKind, JobType};
    use secret_sync::store::{Claim, JobStart, LeaseTake};

    let store = &env.store;
    let job = Job::new(sync, JobKind::SYNC, "test");
    let marker_for = Duration::from_secs(30);
    let claim = store
        .ledger
        .claim_queued(sync, job.kind.coalescing_key(), job.id, marker_for)
        .await
        .expect("queued marker");
    assert_eq!(claim, Claim::New);
    let attempt = store
        .ledger
        .try_lease_sync(sync, job.id, "test-worker", Duration::from_secs(30))
        .await
        .expect("lease");
    let LeaseTake::Taken(lease) = attempt.take else {
        panic!("the lease was not taken: {:?}", attempt.take);
    };
    let no_debounce = Debounce {
        quiet: Duration::ZERO,
        max_wait: Duration::ZERO,
    };
    let view = store
        .ledger
        .open_leased_job(sync, job.id, JobType::Sync, no_debounce)
        .await
        .expect("open");
    assert!(view.marker.is_some(), "the open took the job's marker");
    let start = JobStart {
        job: job.clone(),
        attempt: 1,
        max_attempts: 3,
        enqueued_at: chrono::Utc::now(),
        worker_id: "test-worker".into(),
        coalesced: 1,
        covers_until: view.marker.map(|m| m.taken_at),
        started_at: Some(view.opened_at),
    };
    (job, lease, start)
}

/// A run's outcome: succeeded, nothing changed.
fn in_sync() -> secret_sync::model::JobOutcome {
    use secret_sync::model::{Counts, JobOutcome, KeyChanges};
    JobOutcome {
        status: JobStatus::Succeeded,
        message: "in sync".into(),
        counts: Counts::default(),
        keys: KeyChanges::default(),
        next_attempt_at: None,
        humanitec_status: None,
        retry_after: None,
    }
}

/// A fast worker can open a job (taking its queued marker) before the
/// enqueuer hears the broker's confirm, and write the outcome while the
/// enqueuer records the job `pending`. The outcome locks the sync row,
/// then writes the job row; the enqueuer must never hold the job row while
/// it waits for the sync row. If it did, Postgres would break the deadlock
/// after a second by failing one of them, and the job would run again.
/// The interleaving is forced: the test holds the sync row until the
/// outcome waits for it, lets the enqueuer go, then releases it.
#[tokio::test]
async fn a_job_recorded_as_enqueued_while_its_outcome_is_written_does_not_deadlock() {
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let store = env.store.clone();
    let (job, lease, start) = opened_job(&env, sync).await;

    let mut holder = env.sql().await;
    let watcher = env.sql().await;
    let hold = holder.transaction().await.expect("begin");
    hold.execute(
        "SELECT 1 FROM secret_syncs WHERE id = $1 FOR NO KEY UPDATE",
        &[&sync],
    )
    .await
    .expect("lock the sync row");

    let outcome = in_sync();
    let finish = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .ledger
                .finish_job(&start, &outcome, &lease, false)
                .await
        }
    });
    eventually(Duration::from_secs(10), || async {
        (lock_waiters(&watcher).await == 1).then_some(())
    })
    .await;
    let enqueued = tokio::spawn({
        let (store, job) = (store.clone(), job.clone());
        async move { store.ledger.record_enqueued(&job).await }
    });
    // Done, or (the deadlock's first half) waiting for the sync row too.
    eventually(Duration::from_secs(10), || async {
        (enqueued.is_finished() || lock_waiters(&watcher).await >= 2).then_some(())
    })
    .await;
    hold.commit().await.expect("release the sync row");

    let written = finish.await.expect("finish task");
    assert!(
        matches!(written, Ok(true)),
        "the outcome was written: {written:?}"
    );
    let recorded = enqueued.await.expect("enqueue task");
    assert!(recorded.is_ok(), "the enqueue was recorded: {recorded:?}");
    let row = env.wait_job(job.id).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(
        env.sync_row(sync).await.sync_status,
        Some(JobStatus::Succeeded),
        "the sync shows the outcome, not pending"
    );
    drop(store);
    env.finish().await;
}

/// The reaper can meet any writer of a stale job's rows: a late heartbeat
/// (sync row, then job row), a new run's start, an outcome. It must never
/// wait for one: waiting on a row while holding the other is half of a
/// deadlock. A job whose rows are held is reaped in a later round.
#[tokio::test]
async fn the_reaper_passes_over_a_stale_job_whose_rows_are_held_and_reaps_it_later() {
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let store = env.store.clone();
    let (job, _lease, start) = opened_job(&env, sync).await;
    store.ledger.start_job(&start).await.expect("start");
    let sql = env.sql().await;
    sql.execute(
        "UPDATE secret_sync_jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1",
        &[&job.id],
    )
    .await
    .expect("age the heartbeat");
    let stale_after = Duration::from_secs(60);

    for (held, lock) in [
        (
            "the sync row",
            "SELECT 1 FROM secret_syncs WHERE id = $1 FOR NO KEY UPDATE",
        ),
        (
            "the job row",
            "SELECT 1 FROM secret_sync_jobs WHERE sync_id = $1 FOR UPDATE",
        ),
    ] {
        let mut holder = env.sql().await;
        let hold = holder.transaction().await.expect("begin");
        hold.execute(lock, &[&sync]).await.expect("hold the row");
        // Bounded only so that a reaper that waits fails here instead of
        // hanging the suite: it returns at once when it passes over.
        let reaped = tokio::time::timeout(
            Duration::from_secs(20),
            store.ledger.reap_stale_jobs(stale_after),
        )
        .await
        .unwrap_or_else(|_| panic!("the reaper waited for {held}"))
        .expect("reap");
        assert!(
            reaped.is_empty(),
            "reaped while {held} was held: {reaped:?}"
        );
        hold.rollback().await.expect("release");
        let status: String = sql
            .query_one(
                "SELECT status FROM secret_sync_jobs WHERE id = $1",
                &[&job.id],
            )
            .await
            .expect("job row")
            .get(0);
        assert_eq!(status, "running", "left as it was while {held} was held");
    }

    let reaped = store
        .ledger
        .reap_stale_jobs(stale_after)
        .await
        .expect("reap");
    assert_eq!(
        reaped.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        vec![job.id]
    );
    let row = sql
        .query_one(
            "SELECT status, message FROM secret_sync_jobs WHERE id = $1",
            &[&job.id],
        )
        .await
        .expect("job row");
    assert_eq!(row.get::<_, String>(0), "pending");
    assert!(row
        .get::<_, String>(1)
        .contains("worker running this job stopped"));
    assert_eq!(
        env.sync_row(sync).await.sync_status,
        Some(JobStatus::Pending)
    );
    drop(store);
    env.finish().await;
}

/// Runs that end together have their outcomes written in one statement
/// (the store's completer), and each is still fenced by its own lease: a
/// run whose lease another run took writes nothing, while the others'
/// outcomes land.
#[tokio::test]
async fn outcomes_that_end_together_share_one_statement_each_fenced_by_its_own_lease() {
    let env = TestEnv::new().await;
    let src = env.source("production", &[("A", "1")]).await;
    let mut opened = Vec::new();
    for i in 0..20 {
        let sync = env
            .sync(
                &src,
                &format!("s{i}"),
                app_scope(&format!("app{i}")),
                options(),
            )
            .await;
        opened.push((sync, opened_job(&env, sync).await));
    }
    // The first run's lease expired and another run took it.
    let (lost_sync, (lost_job, _, _)) = &opened[0];
    env.seed
        .execute_sql(&format!(
            "UPDATE secret_syncs SET lease_token = gen_random_uuid() WHERE id = '{lost_sync}'"
        ))
        .await;
    let outcome = in_sync();
    let store = env.store.clone();
    let before = store.statements_sent();
    let written = futures::future::join_all(
        opened
            .iter()
            .map(|(_, (_, lease, start))| store.ledger.finish_job(start, &outcome, lease, false)),
    )
    .await;
    let sent = store.statements_sent() - before;
    let written: Vec<bool> = written
        .into_iter()
        .map(|w| w.expect("the outcome's statement ran"))
        .collect();
    assert!(!written[0], "the run that lost its lease wrote nothing");
    assert!(written[1..].iter().all(|w| *w), "{written:?}");
    assert!(
        sent <= 2,
        "{sent} statements for 20 outcomes that ended together"
    );
    for (sync, (job, _, _)) in &opened[1..] {
        let row = env.wait_job(job.id).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
        let shown = env.sync_row(*sync).await;
        assert_eq!(shown.sync_status, Some(JobStatus::Succeeded));
    }
    let lost_rows = env
        .seed
        .numbers(&format!(
            "SELECT count(*) FROM secret_sync_jobs WHERE id = '{}'",
            lost_job.id
        ))
        .await;
    assert_eq!(lost_rows, vec![0.0], "no job row for the fenced run");
    let leased = env
        .seed
        .numbers("SELECT count(*) FROM secret_syncs WHERE lease_token IS NOT NULL")
        .await;
    assert_eq!(
        leased,
        vec![1.0],
        "every lease released but the other run's"
    );
    drop(store);
    env.finish().await;
}
