//! Auto-sync under event storms: requests for one sync coalesce into at
//! most one queued job behind the running one; nothing is lost.

use std::time::Duration;

use humanitec_sandbox::Faults;
use lapin::options::QueueDeclareOptions;
use lapin::{Connection, ConnectionProperties};
use secret_sync::queue::SecretChanged;
use secret_sync::{ImportBehavior, JobKind, JobStatus};
use secret_sync_testkit::*;
use uuid::Uuid;

/// Ready messages on `queue` (a passive declare).
async fn ready_messages(env: &TestEnv, queue: &str) -> u32 {
    let conn = Connection::connect(&env.settings.amqp_url, ConnectionProperties::default())
        .await
        .expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                durable: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("queue exists");
    let _ = conn.close(200, "ok".into()).await;
    q.message_count()
}

/// Sync jobs queued and not started (coalescing markers).
async fn queued_markers(env: &TestEnv) -> i64 {
    let client = env.sql().await;
    let n: i64 = client
        .query_one("SELECT count(*) FROM secret_sync_queued", &[])
        .await
        .expect("count")
        .get(0);
    n
}

/// Waits until every one of `events` change events is accounted for in the
/// job rows of each of `auto` (each event folds into one job per auto-sync),
/// every such row is final and no sync job is queued: past that point no
/// run can start, so what is counted then is final without a pause.
async fn wait_quiet(env: &TestEnv, auto: &[Uuid], events: i32) {
    eventually(Duration::from_secs(90), || async {
        let ready = ready_messages(env, &env.names.events_queue()).await;
        let markers = queued_markers(env).await;
        let mut absorbed = Vec::new();
        let mut open = 0;
        for sync in auto {
            let jobs = env
                .store
                .reads
                .recent_jobs(Some(*sync), 1000)
                .await
                .expect("jobs");
            open += jobs.iter().filter(|j| !j.status.is_final()).count();
            absorbed.push(jobs.iter().map(|j| j.coalesced).sum::<i32>());
        }
        let all_in = absorbed.iter().all(|n| *n == events);
        if ready == 0 && markers == 0 && open == 0 && all_in {
            return Ok(());
        }
        Err(format!(
            "never quiet: {ready} events ready, {markers} queued, {open} open jobs, \
             {absorbed:?} of {events} events absorbed per auto-sync"
        ))
    })
    .await;
}

fn list_gets(env: &TestEnv, path_suffix: &str) -> usize {
    env.sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(path_suffix))
        .count()
}

#[tokio::test]
async fn five_hundred_events_cost_at_most_two_runs_per_auto_sync_and_lose_nothing() {
    let mut env = TestEnv::new().await;
    // Each Humanitec call takes a while, so the burst lands while runs are in flight.
    env.sandbox.set_faults(Faults {
        latency_ms: 2000,
        ..Faults::default()
    });
    let src = env.source("production", &[("A", "0"), ("B", "b")]).await;
    let envs = ["development", "staging", "production"];
    let mut auto = Vec::new();
    for e in envs {
        auto.push(
            env.sync(&src, &format!("auto-{e}"), env_scope("web", e), options())
                .await,
        );
    }
    let manual = env.sync(&src, "manual", app_scope("api"), options()).await;
    env.seed
        .execute_sql(&format!(
            "UPDATE secret_syncs SET is_auto_sync_enabled = false WHERE id = '{manual}'"
        ))
        .await;
    env.start_worker().await;

    let change = SecretChanged {
        project_id: src.project.clone(),
        environment: "production".into(),
        path: "/app".into(),
    };
    let t0 = std::time::Instant::now();
    for i in 1..=500 {
        if i % 50 == 0 {
            env.put_secret(src.folder, "A", &i.to_string()).await;
        }
        env.client.publish_change(&change).await.expect("publish");
    }
    println!("published 500 events in {} ms", t0.elapsed().as_millis());
    eventually(Duration::from_secs(90), || async {
        let ready = ready_messages(&env, &env.names.events_queue()).await;
        seen(ready, |ready| *ready == 0)
    })
    .await;
    println!("events drained after {} ms", t0.elapsed().as_millis());
    wait_quiet(&env, &auto, 500).await;

    for (sync, e) in auto.iter().zip(envs) {
        let gets = list_gets(&env, &format!("/apps/web/envs/{e}/values"));
        let jobs = env
            .store
            .reads
            .recent_jobs(Some(*sync), 1000)
            .await
            .expect("jobs");
        let absorbed: i32 = jobs.iter().map(|j| j.coalesced).sum();
        println!(
            "{e}: {gets} runs, {} job rows absorbing {absorbed} requests: {:?}",
            jobs.len(),
            jobs.iter()
                .map(|j| (j.status, j.coalesced, j.message.clone()))
                .collect::<Vec<_>>()
        );
        assert!((1..=2).contains(&gets), "{e}: {gets} runs");
        assert!(
            (1..=2).contains(&jobs.len()),
            "{e}: {} job rows",
            jobs.len()
        );
        assert_eq!(absorbed, 500, "{e}: every event is accounted for");
        for job in &jobs {
            assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.message);
            assert_eq!(job.trigger.as_deref(), Some("auto-sync"));
        }
        let big = jobs.iter().max_by_key(|j| j.coalesced).expect("a job");
        assert!(
            big.message
                .as_deref()
                .is_some_and(|m| m.contains(&format!("covered {} requests", big.coalesced))),
            "{:?}",
            big.message
        );
        let values = env.humanitec_values("web", Some(e));
        assert_eq!(values.get("A").map(String::as_str), Some("500"), "{e}");
        assert_eq!(values.get("B").map(String::as_str), Some("b"), "{e}");
    }
    assert_eq!(
        list_gets(&env, "/apps/api/values"),
        0,
        "manual sync never ran"
    );
    assert!(env
        .store
        .reads
        .recent_jobs(Some(manual), 10)
        .await
        .expect("jobs")
        .is_empty());
    env.finish().await;
}

#[tokio::test]
async fn repeated_triggers_of_each_kind_fold_into_its_queued_job_and_a_change_during_a_run_queues_one_more(
) {
    let mut env = TestEnv::new().await;
    env.sandbox.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let (src, sync) = env.one_sync().await;

    // No worker yet: ten manual or API triggers are one queued job.
    let mut ids = Vec::new();
    for i in 0..10 {
        let trigger = if i % 2 == 0 { "manual" } else { "api" };
        ids.push(
            env.client
                .enqueue(sync, JobKind::SYNC, trigger)
                .await
                .expect("enqueue"),
        );
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let pending = env
        .store
        .reads
        .job(ids[0])
        .await
        .expect("job")
        .expect("row");
    assert_eq!(
        (pending.status, pending.coalesced),
        (JobStatus::Pending, 10)
    );

    // Imports and removes fold too, each into a queued job of its own type
    // and options, never into a sync job.
    let remove = JobKind::Remove {
        delete_sync_on_complete: false,
    };
    let removes = [
        env.enqueue_kind(sync, remove).await,
        env.enqueue_kind(sync, remove).await,
    ];
    assert_eq!(removes[0], removes[1]);
    assert_ne!(removes[0], ids[0]);
    let import = |behavior| JobKind::Import { behavior };
    let mut imports = Vec::new();
    for _ in 0..3 {
        imports.push(
            env.enqueue_kind(sync, import(ImportBehavior::PrioritizeSource))
                .await,
        );
    }
    assert!(imports.iter().all(|id| *id == imports[0]), "{imports:?}");
    let other_import = env
        .enqueue_kind(sync, import(ImportBehavior::PrioritizeDestination))
        .await;
    assert!(![ids[0], removes[0], imports[0]].contains(&other_import));

    env.start_worker().await;
    // Wait until the first job runs, then change the source and trigger again.
    env.wait_job_until(ids[0], JOB_WAIT, |row| row.status == JobStatus::Running)
        .await;
    env.put_secret(src.folder, "A", "2").await;
    let second = env.enqueue(sync).await;
    let third = env.enqueue(sync).await;
    assert_ne!(second, ids[0], "a change during a run queues a new job");
    assert_eq!(second, third, "and only one");

    let first = env.wait_job(ids[0]).await;
    assert_eq!(first.status, JobStatus::Succeeded, "{:?}", first.message);
    assert_eq!(first.coalesced, 10);
    let row = env.wait_job(second).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(row.coalesced, 2);
    for (job, coalesced) in [(removes[0], 2), (imports[0], 3), (other_import, 1)] {
        let row = env.wait_job(job).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
        assert_eq!(row.coalesced, coalesced);
    }
    env.finish().await;
}

#[tokio::test]
async fn publish_change_command_makes_auto_syncs_catch_up() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let (src, sync) = env.one_sync().await;
    env.put_secret(src.folder, "A", "2").await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_secret-sync"))
        .args(["publish-change", &src.project, "production", "app/"])
        .envs(env.product_env())
        .output()
        .await
        .expect("command runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("folder /app"), "{stdout}");
    let job = eventually(Duration::from_secs(20), || async {
        let jobs = env
            .store
            .reads
            .recent_jobs(Some(sync), 10)
            .await
            .expect("jobs");
        let job = jobs.into_iter().find(|j| j.status.is_final());
        job.ok_or("no auto-sync job has run")
    })
    .await;
    assert_eq!(
        (job.status, job.trigger.as_deref()),
        (JobStatus::Succeeded, Some("auto-sync"))
    );
    assert_eq!(env.sandbox.values(ORG, "api", None)[0].value, "2");
    env.finish().await;
}

#[tokio::test]
async fn a_marker_the_broker_never_confirmed_is_taken_over_and_a_confirmed_one_is_folded_into() {
    use secret_sync::store::Claim;
    use secret_sync::Job;
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let window = Duration::from_secs(30);
    let (a, b, c, d) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let claim = |job: Uuid, window: Duration| {
        let store = env.store.clone();
        async move {
            store
                .ledger
                .claim_queued(sync, "sync", job, window)
                .await
                .expect("claim")
        }
    };
    assert_eq!(claim(a, window).await, Claim::New);
    // Within the window an unconfirmed marker is folded into (its publish
    // may be in flight)...
    assert_eq!(
        claim(b, window).await,
        Claim::Folded {
            job_id: a,
            coalesced: 2
        }
    );
    // ...after it, its enqueuer is presumed dead and the marker taken over.
    assert_eq!(claim(c, Duration::ZERO).await, Claim::New);
    // Once the broker confirmed the job, it is folded into however old.
    env.store
        .ledger
        .record_enqueued(&Job {
            id: c,
            sync_id: sync,
            kind: JobKind::SYNC,
            trigger: Some("test".into()),
            actor: None,
        })
        .await
        .expect("record");
    assert_eq!(
        claim(d, Duration::ZERO).await,
        Claim::Folded {
            job_id: c,
            coalesced: 2
        }
    );
    let row = env.store.reads.job(c).await.expect("job").expect("row");
    assert_eq!((row.status, row.coalesced), (JobStatus::Pending, 2));
    env.finish().await;
}

/// Two processes that spin on the CPU (the machine has two cores) for as
/// long as the value lives.
struct BusyMachine {
    _loops: Vec<tokio::process::Child>,
}

impl BusyMachine {
    fn start() -> BusyMachine {
        BusyMachine {
            _loops: (0..2)
                .map(|_| {
                    tokio::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .kill_on_drop(true)
                        .spawn()
                        .expect("a busy loop starts")
                })
                .collect(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_a_busy_machine_still_costs_two_runs_and_a_lone_change_stays_fast() {
    let mut env = TestEnv::new().await;
    env.sandbox.set_faults(Faults {
        latency_ms: 50,
        ..Faults::default()
    });
    let src = env.source("production", &[("A", "0"), ("B", "b")]).await;
    let envs = ["development", "staging"];
    let mut auto = Vec::new();
    for e in envs {
        auto.push(
            env.sync(&src, &format!("auto-{e}"), env_scope("web", e), options())
                .await,
        );
    }
    env.start_worker().await;
    let busy = BusyMachine::start();

    let change = SecretChanged {
        project_id: src.project.clone(),
        environment: "production".into(),
        path: "/app".into(),
    };
    let t0 = std::time::Instant::now();
    for i in 1..=300 {
        if i % 30 == 0 {
            env.put_secret(src.folder, "A", &i.to_string()).await;
        }
        env.client.publish_change(&change).await.expect("publish");
    }
    println!("published 300 events in {} ms", t0.elapsed().as_millis());
    wait_quiet(&env, &auto, 300).await;
    println!("quiet after {} ms", t0.elapsed().as_millis());

    for (sync, e) in auto.iter().zip(envs) {
        let runs = list_gets(&env, &format!("/apps/web/envs/{e}/values"));
        let jobs = env
            .store
            .reads
            .recent_jobs(Some(*sync), 1000)
            .await
            .expect("jobs");
        println!(
            "{e}: {runs} runs; jobs (status, requests covered): {:?}",
            jobs.iter()
                .map(|j| (j.status, j.coalesced))
                .collect::<Vec<_>>()
        );
        assert!((1..=2).contains(&runs), "{e}: {runs} runs");
        assert!(jobs.iter().all(|j| j.status == JobStatus::Succeeded));
        let values = env.humanitec_values("web", Some(e));
        assert_eq!(values.get("A").map(String::as_str), Some("300"), "{e}");
    }

    // Once the burst is over, a lone change is as quick as ever.
    env.put_secret(src.folder, "A", "lone").await;
    let t1 = std::time::Instant::now();
    env.client.publish_change(&change).await.expect("publish");
    eventually(Duration::from_secs(30), || async {
        let values = env.humanitec_values("web", Some("staging"));
        seen(values.get("A").cloned(), |a| a.as_deref() == Some("lone"))
    })
    .await;
    let lone = t1.elapsed();
    println!("a lone change reached Humanitec in {} ms", lone.as_millis());
    assert!(lone < Duration::from_secs(1), "{lone:?}");
    drop(busy);
    env.finish().await;
}
