//! What a queue prefix costs the broker: at most 8 quorum queues, whatever
//! the delays in use, and nothing left once a test (or the demo) ends,
//! panics included (issue 42: a sick broker is not made sicker).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use humanitec_sandbox::{Fault, Faults};
use secret_sync::JobStatus;
use secret_sync_testkit::*;

/// The names of `what` (`queues` or `exchanges`) on the local broker that
/// start with `prefix`, as `rabbitmqctl` lists them.
async fn broker_objects(what: &str, prefix: &str) -> Vec<String> {
    let out = tokio::process::Command::new("rabbitmqctl")
        .args(["-q", &format!("list_{what}"), "--no-table-headers", "name"])
        .output()
        .await
        .expect("rabbitmqctl runs (the tests need the local RabbitMQ's tools)");
    assert!(
        out.status.success(),
        "rabbitmqctl list_{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|name| name.starts_with(prefix))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

fn status(code: u16) -> Fault {
    Fault::Status {
        status: code,
        retry_after: None,
    }
}

#[tokio::test]
async fn a_retried_job_waits_out_its_delay_on_the_shared_ladder_of_eight_queues() {
    // 2.5 s is no step of the ladder: 2 s, then 250 ms twice (or so) as the
    // worker puts the job back until it is due.
    let retry_delay = Duration::from_millis(2_500);
    let mut env = TestEnv::with(|name| match name {
        "HTTP_RETRIES" => Some("0".into()),
        "JOB_MAX_ATTEMPTS" => Some("2".into()),
        "JOB_RETRY_DELAYS" => Some("2500ms".into()),
        _ => None,
    })
    .await;
    env.start_worker().await;
    let (_, sync) = env.one_sync().await;
    env.sandbox.set_faults(Faults {
        script: vec![status(502)],
        ..Faults::default()
    });
    let enqueued = Instant::now();
    let job = env.enqueue(sync).await;

    // Attempt 1 fails; the job waits, on the ladder, not in the jobs queue.
    let failed_once = eventually(Duration::from_secs(20), || async {
        seen(env.sync_row(sync).await, |row| {
            row.sync_status == Some(JobStatus::Pending)
                && row
                    .last_sync_message
                    .as_deref()
                    .is_some_and(|m| m.contains("Next attempt at"))
        })
    })
    .await;
    assert!(
        failed_once
            .last_sync_message
            .as_deref()
            .is_some_and(|m| m.contains("Attempt 1 of 2 failed")),
        "{:?}",
        failed_once.last_sync_message
    );
    let row = env.wait_job(job).await;
    assert_eq!(
        (row.status, row.attempt),
        (JobStatus::Succeeded, 2),
        "{:?}",
        row.message
    );
    // The delay is kept to within 125 ms (and the debounce came first).
    let took = enqueued.elapsed();
    assert!(
        took >= retry_delay - Duration::from_millis(125),
        "the retried job ended {took:?} after it was enqueued (retry delay {retry_delay:?})"
    );
    assert_eq!(env.jobs_counted("sync", "retry"), 1);
    assert_eq!(env.jobs_counted("sync", "succeeded"), 1);

    // The prefix holds the topology's 8 queues and no other: no queue per
    // job type and delay (`delayed.*`) as before.
    let prefix = env.names.prefix().to_string();
    let queues = broker_objects("queues", &prefix).await;
    let mut expected = env.names.queues();
    expected.sort();
    assert_eq!(queues, expected);
    assert!(queues.len() <= 8, "{queues:?}");
    assert!(
        queues.iter().all(|q| !q.contains(".delayed.")),
        "{queues:?}"
    );

    env.finish().await;
    assert_eq!(
        broker_objects("queues", &prefix).await,
        Vec::<String>::new()
    );
    assert_eq!(
        broker_objects("exchanges", &prefix).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_test_that_panics_leaves_no_queue_or_exchange_behind() {
    // The env lives in a task that panics with a job waiting on the ladder.
    let seen_env: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let inside = seen_env.clone();
    let task = tokio::spawn(async move {
        let mut env = TestEnv::with(|name| match name {
            "HTTP_RETRIES" => Some("0".into()),
            "JOB_RETRY_DELAYS" => Some("1m".into()),
            _ => None,
        })
        .await;
        *inside.lock().expect("not poisoned") = Some((
            env.names.prefix().to_string(),
            env.settings.database_url.clone(),
        ));
        env.start_worker().await;
        let (_, sync) = env.one_sync().await;
        env.sandbox.set_faults(Faults {
            always: Some(status(502)),
            ..Faults::default()
        });
        env.enqueue(sync).await;
        eventually(Duration::from_secs(20), || async {
            seen(env.sync_row(sync).await, |row| {
                row.last_sync_message
                    .as_deref()
                    .is_some_and(|m| m.contains("Next attempt at"))
            })
        })
        .await;
        panic!("on purpose: the env is dropped unfinished");
    });
    let ended = task.await.expect_err("the task panicked");
    assert!(ended.is_panic());
    let (prefix, database_url) = seen_env
        .lock()
        .expect("not poisoned")
        .clone()
        .expect("the env was built");
    // The database is not the guard's (finish drops it): this test's own.
    let _ = drop_database(&database_url).await;

    assert_eq!(
        broker_objects("queues", &prefix).await,
        Vec::<String>::new()
    );
    assert_eq!(
        broker_objects("exchanges", &prefix).await,
        Vec::<String>::new()
    );
}
