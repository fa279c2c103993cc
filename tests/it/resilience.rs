//! Jobs that go wrong in ways no retry fixes end `failed` with their reason,
//! and the worker keeps consuming: a panic, a database that refuses a job
//! for good (its detail in the logs, not on the row), a message the broker dead-letters through its delivery limit.

use std::time::Duration;

use lapin::options::{BasicGetOptions, BasicNackOptions};
use lapin::{Connection, ConnectionProperties};
use secret_sync::JobStatus;
use secret_sync_testkit::*;

/// After a bad job, a good one still runs: the worker kept consuming.
async fn worker_still_consumes(env: &TestEnv, src: &Source, name: &str) {
    let sync = env.sync(src, name, app_scope("api"), options()).await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
}

#[tokio::test]
async fn a_job_that_panics_fails_with_an_internal_error_and_the_worker_goes_on() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env.source("production", &[("A", "1")]).await;
    let doomed = env
        .sync(&src, "test-hook:panic", app_scope("web"), options())
        .await;
    let row = env.run_sync(doomed).await;
    assert_eq!(row.status, JobStatus::Failed);
    let message = row.message.unwrap_or_default();
    assert!(
        message.contains("internal error") && message.contains("test hook: this sync panics"),
        "{message}"
    );
    let sync_row = env.sync_row(doomed).await;
    assert_eq!(
        sync_row.sync_status,
        Some(JobStatus::Failed),
        "not left running"
    );
    worker_still_consumes(&env, &src, "after-panic").await;
    env.finish().await;
}

#[tokio::test]
async fn a_job_the_database_refuses_for_good_fails_at_once_saying_what_kind_of_failure() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env.source("production", &[("A", "1")]).await;
    let doomed = env.sync(&src, "doomed", app_scope("web"), options()).await;
    env.seed
        .execute_sql(
            "CREATE FUNCTION refuse_running() RETURNS trigger AS $$
             BEGIN
               IF NEW.lease_token IS NOT NULL THEN
                 RAISE EXCEPTION 'this database refuses to run sync %', NEW.name;
               END IF;
               RETURN NEW;
             END $$ LANGUAGE plpgsql;
             CREATE TRIGGER refuse BEFORE UPDATE ON secret_syncs
               FOR EACH ROW WHEN (NEW.name = 'doomed') EXECUTE FUNCTION refuse_running();",
        )
        .await;
    let row = env.run_sync(doomed).await;
    assert_eq!((row.status, row.attempt), (JobStatus::Failed, 1));
    let message = row.message.unwrap_or_default();
    // The sync's owners read the class of problem; Postgres's own words
    // (which name tables, hosts, users) stay in the operators' logs.
    assert!(
        message.contains("secret-sync's database failed") && message.contains("operators' side"),
        "the row says what kind of failure: {message}"
    );
    assert!(
        !message.contains("refuses to run") && !message.contains("secret_syncs"),
        "no database detail on the row: {message}"
    );
    assert!(
        env.sandbox.requests().is_empty(),
        "nothing reached Humanitec"
    );
    worker_still_consumes(&env, &src, "after-refusal").await;
    env.finish().await;
}

#[tokio::test]
async fn a_job_dead_lettered_by_the_delivery_limit_ends_failed_and_stays_visible() {
    let mut env = TestEnv::with(|name| match name {
        "JOB_RESCUE_EVERY" => Some("200ms".into()),
        _ => None,
    })
    .await;
    let src = env.source("production", &[("A", "1")]).await;
    let sync = env.sync(&src, "bounced", app_scope("api"), options()).await;
    let job = env.enqueue(sync).await;

    // A consumer that gives the message back every time, as a crashing
    // worker would, until RabbitMQ's delivery limit dead-letters it.
    let conn = Connection::connect(&env.settings.amqp_url, ConnectionProperties::default())
        .await
        .expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let deliveries = std::cell::Cell::new(0);
    eventually(Duration::from_secs(20), || async {
        let got = ch
            .basic_get(
                env.names.jobs_queue().into(),
                BasicGetOptions { no_ack: false },
            )
            .await
            .expect("basic_get");
        match got {
            Some(message) => {
                deliveries.set(deliveries.get() + 1);
                message
                    .delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await
                    .expect("nack");
                Err(format!(
                    "delivered {} times, still on the jobs queue",
                    deliveries.get()
                ))
            }
            // Given back and gone: the delivery limit dead-lettered it.
            None if deliveries.get() > 0 => Ok(()),
            None => Err("the job message is not on the jobs queue yet".into()),
        }
    })
    .await;
    let deliveries = deliveries.get();
    let _ = conn.close(200, "ok".into()).await;
    println!("the message was delivered {deliveries} times before RabbitMQ dead-lettered it");
    assert!(deliveries > 1, "the delivery limit was exercised");
    assert_eq!(
        env.store
            .reads
            .job(job)
            .await
            .expect("row")
            .map(|r| r.status),
        Some(JobStatus::Pending),
        "before the rescuer, the row still waits"
    );

    env.start_worker().await;
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Failed);
    let message = row.message.unwrap_or_default();
    assert!(message.contains("dead-lettered"), "{message}");
    assert_eq!(
        env.sync_row(sync).await.sync_status,
        Some(JobStatus::Failed)
    );
    assert!(
        env.take_dead_letter().await.is_some(),
        "the message stays in the dead-letter queue for operators"
    );
    env.finish().await;
}
