//! The maintenance loops (`engine::maintenance`), each by its `run_once`
//! against the test's own database and queues, asserting what a user
//! cares about: a dead worker's job set back to pending, an orphaned job
//! published again, a dead-lettered job recorded failed, a scheduled
//! reconcile enqueued, a notification delivered, the gauges set, an
//! expired session gone. Then loops started as the worker starts them,
//! awaited through their test signals (never a sleep), and stopped; and
//! configs that cannot work, refused.

use std::time::Duration;

use lapin::options::BasicGetOptions;
use lapin::{Connection, ConnectionProperties};
use secret_sync::engine::maintenance::gauges::{Gauges, GaugesConfig};
use secret_sync::engine::maintenance::notifier::{
    self, Notifier, NotifierConfig, NotifierError, Sent,
};
use secret_sync::engine::maintenance::orphans::{Orphans, OrphansConfig};
use secret_sync::engine::maintenance::reaper::{self, Reaper, ReaperConfig};
use secret_sync::engine::maintenance::rescuer::{Rescuer, RescuerConfig};
use secret_sync::engine::maintenance::schedule::{Schedule, ScheduleConfig};
use secret_sync::engine::maintenance::sweeper::{Sweeper, SweeperConfig};
use secret_sync::engine::maintenance::{gauges, TestSignal};
use secret_sync::http::metrics::StatusLabel;
use secret_sync::http::Metrics;
use secret_sync::worker::Shared;
use secret_sync::{JobStatus, Store};
use secret_sync_testkit::*;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::lifecycle::opened_job;
use crate::notifications::{queue_events, store_channel, Receiver};

/// How long a test awaits a loop's signal before it fails.
const WAIT: Duration = Duration::from_secs(30);

/// A job row as an enqueue writes it, `pending` since `age` ago, of
/// `kind` (its queued kind; NULL for rows from before kinds were kept).
async fn pending_job(env: &TestEnv, sync: Uuid, kind: Option<&str>, age: &str) -> Uuid {
    let job = Uuid::new_v4();
    env.seed
        .client()
        .execute(
            &format!(
                "INSERT INTO secret_sync_jobs (id, sync_id, type, trigger, status, enqueued_at, kind)
                 VALUES ($1, $2, 'sync', 'test', 'pending', now() - interval '{age}', $3)"
            ),
            &[&job, &sync, &kind],
        )
        .await
        .expect("a pending job row");
    job
}

/// A sync job `running` on a worker whose heartbeat stopped an hour ago.
async fn job_of_a_dead_worker(env: &TestEnv, sync: Uuid) -> Uuid {
    let (job, _lease, start) = opened_job(env, sync).await;
    env.store.ledger.start_job(&start).await.expect("start");
    env.seed
        .client()
        .execute(
            "UPDATE secret_sync_jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1",
            &[&job.id],
        )
        .await
        .expect("age the heartbeat");
    job.id
}

async fn status_of(env: &TestEnv, job: Uuid) -> (JobStatus, String) {
    let row = env
        .store
        .reads
        .job(job)
        .await
        .expect("job row")
        .expect("a row");
    (row.status, row.message.unwrap_or_default())
}

#[tokio::test]
async fn the_reaper_sets_a_dead_workers_job_back_to_pending() {
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let job = job_of_a_dead_worker(&env, sync).await;
    let reaper = Reaper::new(
        ReaperConfig::new(Duration::from_secs(60)),
        env.store.clone(),
    )
    .expect("config");

    let round = reaper.run_once().await.expect("round");
    let reaped: Vec<Uuid> = round.reaped.iter().map(|j| j.job_id).collect();
    assert_eq!(reaped, vec![job]);
    let (status, message) = status_of(&env, job).await;
    assert_eq!(status, JobStatus::Pending);
    assert!(
        message.contains("worker running this job stopped"),
        "{message}"
    );
    assert_eq!(
        env.sync_row(sync).await.sync_status,
        Some(JobStatus::Pending),
        "the sync shows it waiting again"
    );
    // Nothing is stale any more.
    assert!(reaper.run_once().await.expect("round").reaped.is_empty());
    drop(reaper);
    env.finish().await;
}

/// Takes the job messages now on the jobs queue (waiting for the first).
async fn job_messages(env: &TestEnv) -> Vec<Value> {
    let conn = Connection::connect(&env.settings.amqp_url, ConnectionProperties::default())
        .await
        .expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let get = || async {
        ch.basic_get(
            env.names.jobs_queue().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic_get")
        .map(|m| serde_json::from_slice::<Value>(&m.delivery.data).expect("JSON"))
    };
    let mut got = vec![eventually(WAIT, get).await];
    while let Some(more) = get().await {
        got.push(more);
    }
    let _ = conn.close(200, "ok".into()).await;
    got
}

#[tokio::test]
async fn orphans_are_published_again_or_failed_when_they_cannot_run_as_asked() {
    let env = TestEnv::new().await;
    let (src, sync) = env.one_sync().await;
    let future = env.sync(&src, "future", app_scope("web"), options()).await;
    // No message behind either (a failover lost it): one of a kind this
    // version runs, one of a kind it does not know.
    let orphan = pending_job(&env, sync, Some("sync"), "1 hour").await;
    let unknown = pending_job(&env, future, Some("sync+teleport"), "1 hour").await;
    // A row queued a moment ago is no orphan.
    let fresh = pending_job(&env, sync, Some("sync"), "1 second").await;
    let orphans = Orphans::new(
        OrphansConfig::new(Duration::from_secs(60)),
        env.store.clone(),
        link(&env),
    )
    .expect("config");

    let round = orphans.run_once().await.expect("round");
    assert_eq!(round.claimed, 2, "{round:?}");
    assert_eq!(round.republished, vec![orphan]);
    assert_eq!(round.failed, vec![unknown]);
    assert_eq!(round.left, 0);
    let letters = job_messages(&env).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["jobId"], orphan.to_string(), "{}", letters[0]);
    assert_eq!(letters[0]["syncId"], sync.to_string());
    assert_eq!(letters[0]["trigger"], "republished");
    let (status, message) = status_of(&env, unknown).await;
    assert_eq!(status, JobStatus::Failed);
    assert!(message.contains("'sync+teleport'"), "{message}");
    assert_eq!(status_of(&env, fresh).await.0, JobStatus::Pending);
    // Claimed once per `orphan_after`: the next round takes neither again.
    assert_eq!(orphans.run_once().await.expect("round").claimed, 0);
    drop(orphans);
    env.finish().await;
}

#[tokio::test]
async fn the_rescuer_records_a_dead_lettered_job_failed_and_leaves_the_letter() {
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let job = env.publish_dead_job(sync).await;
    let shared = Shared::build(env.settings.clone())
        .await
        .expect("worker builds");
    let rescuer = Rescuer::new(
        RescuerConfig::from_settings(&env.settings),
        shared.runner.clone(),
        shared.link.clone(),
    )
    .expect("config");

    let round = rescuer.run_once().await.expect("scan");
    assert_eq!(round.scanned, 1, "{round:?}");
    assert_eq!(round.failed, vec![job]);
    let (status, message) = status_of(&env, job).await;
    assert_eq!(status, JobStatus::Failed);
    assert!(message.contains("dead-lettered"), "{message}");
    assert!(message.contains("worker crashed 10 times"), "{message}");
    // Its attempt is on record too, with the same words (issue 41).
    let attempts = env
        .sql()
        .await
        .query(
            "SELECT outcome, message, humanitec_status FROM secret_sync_job_attempts
              WHERE job_id = $1",
            &[&job],
        )
        .await
        .expect("attempts");
    let attempts: Vec<(String, Option<String>, Option<i32>)> = attempts
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        attempts,
        vec![("failed".to_string(), Some(message.clone()), None)]
    );
    assert_eq!(
        env.sync_row(sync).await.sync_status,
        Some(JobStatus::Failed)
    );
    // The letter stays for operators; the next scan passes over it.
    let again = rescuer.run_once().await.expect("scan");
    assert_eq!((again.scanned, again.passed_over), (1, 1), "{again:?}");
    assert!(again.failed.is_empty());
    assert!(env.take_dead_letter().await.is_some(), "the letter stays");
    drop((rescuer, shared));
    env.finish().await;
}

#[tokio::test]
async fn the_schedule_gives_a_new_sync_a_slot_and_enqueues_it_when_the_slot_comes() {
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let config = ScheduleConfig::new(Duration::from_secs(3600)).expect("on");
    let link = link(&env);
    let schedule =
        Schedule::new(config, env.store.clone(), &env.settings, link.clone()).expect("config");

    let first = schedule.run_once().await.expect("tick");
    assert_eq!(first.scheduled, Some(1), "a slot for the new sync");
    assert_eq!(first.due, 0, "a new slot is after now: {first:?}");
    assert!(env
        .store
        .ledger
        .next_reconcile(sync)
        .await
        .expect("slot")
        .is_some());

    env.seed
        .execute_sql("UPDATE sync_reconcile SET next_at = now() - interval '1 second'")
        .await;
    let second = schedule.run_once().await.expect("tick");
    assert_eq!(
        second.scheduled, None,
        "new syncs are looked for every 15 ticks"
    );
    assert_eq!((second.due, second.not_enqueued), (1, 0), "{second:?}");
    assert_eq!(second.enqueued.len(), 1);
    let row = env
        .store
        .reads
        .job(second.enqueued[0])
        .await
        .expect("job row")
        .expect("a row");
    assert_eq!(row.sync_id, sync);
    assert_eq!(row.trigger.as_deref(), Some("schedule"));
    assert_eq!(row.status, JobStatus::Pending, "queued for a worker");
    // The slot moved on to the next one.
    assert_eq!(schedule.run_once().await.expect("tick").due, 0);
    drop(schedule);
    link.close("done").await;
    env.finish().await;
}

/// The dispatcher's config for the tests' loopback receivers, with no
/// digest window (an event is sent at the first round).
fn notifier_config(env: &TestEnv) -> NotifierConfig {
    let mut config = NotifierConfig::from_settings(&env.settings);
    config.allow_private_targets = true;
    config.digest_window = Duration::ZERO;
    config
}

async fn delivered_at_set(env: &TestEnv) -> i64 {
    env.seed
        .client()
        .query_one(
            "SELECT count(*) FROM notification_outbox WHERE delivered_at IS NOT NULL",
            &[],
        )
        .await
        .expect("outbox")
        .get(0)
}

#[tokio::test]
async fn the_notifier_delivers_a_waiting_notification_and_records_it() {
    let env = TestEnv::new().await;
    env.seed.create_project("proj", "Project").await;
    let (receiver, url) = Receiver::start(0).await;
    store_channel(&env, "proj", "team-hook", &url).await;
    queue_events(&env, "proj").await;
    let notifier = Notifier::new(
        notifier_config(&env),
        env.store.clone(),
        env.cipher().clone(),
    )
    .expect("config");

    let round = notifier.run_once().await.expect("round");
    assert_eq!(round.claimed, 1, "{round:?}");
    assert_eq!(round.delivered(), 1, "{round:?}");
    assert!(
        matches!(round.sent[0], Sent::Delivered { events: 1, .. }),
        "{round:?}"
    );
    let got = receiver.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["type"], "failed", "{}", got[0].1);
    assert!(got[0].0.contains_key("x-secret-sync-signature"), "signed");
    assert_eq!(delivered_at_set(&env).await, 1, "the outbox says delivered");
    // Nothing waits any more: the next round claims nothing, sends nothing.
    let next = notifier.run_once().await.expect("round");
    assert_eq!((next.claimed, receiver.messages().len()), (0, 1));
    drop(notifier);
    env.finish().await;
}

#[tokio::test]
async fn the_gauges_count_syncs_by_status_and_the_oldest_pending_job_and_list_the_worker() {
    let env = TestEnv::new().await;
    let (src, sync) = env.one_sync().await;
    env.sync(&src, "second", app_scope("web"), options()).await;
    pending_job(&env, sync, Some("sync"), "1 hour").await;
    let metrics = Metrics::new();
    let config = GaugesConfig {
        every: Duration::from_secs(1),
        worker_id: "maintenance-test-worker".into(),
    };
    let gauges = Gauges::new(config, env.store.clone(), metrics.clone()).expect("config");

    let round = gauges.run_once().await.expect("round");
    assert!(round.worker_seen);
    let never = |m: &Metrics| {
        m.syncs
            .get_or_create(&StatusLabel {
                status: "never".into(),
            })
            .get()
    };
    assert_eq!(never(&metrics), 2, "two syncs that never ran");
    assert_eq!(round.syncs_by_status, Some(vec![("never".to_string(), 2)]));
    let oldest = metrics.oldest_pending_seconds.get();
    assert!((3600.0..3700.0).contains(&oldest), "{oldest}");
    assert_eq!(round.oldest_pending_seconds, Some(oldest));
    let listed: i64 = env
        .seed
        .client()
        .query_one(
            "SELECT count(*) FROM secret_sync_workers WHERE worker_id = 'maintenance-test-worker'",
            &[],
        )
        .await
        .expect("workers")
        .get(0);
    assert_eq!(listed, 1, "the worker is listed");
    drop(gauges);
    env.finish().await;
}

#[tokio::test]
async fn the_sweeper_deletes_expired_sessions_and_keeps_live_ones() {
    let env = TestEnv::new().await;
    let (_, hash) = secret_sync::web::auth::new_token();
    let token = env
        .store
        .auth
        .create_api_token("browser", &hash, "read", &["proj".to_string()], &[])
        .await
        .expect("token")
        .id;
    let hour = Duration::from_secs(3600);
    for id in [
        b"expired".as_slice(),
        b"idle".as_slice(),
        b"live".as_slice(),
    ] {
        assert!(env
            .store
            .auth
            .create_session(id, token, hour, &[])
            .await
            .expect("session"));
    }
    env.seed
        .execute_sql(
            "UPDATE dashboard_sessions SET expires_at = now() - interval '1 second'
              WHERE id_hash = 'expired'::bytea;
             UPDATE dashboard_sessions SET last_seen_at = now() - interval '2 hours'
              WHERE id_hash = 'idle'::bytea",
        )
        .await;
    let config = SweeperConfig {
        idle_timeout: hour,
        ..SweeperConfig::from_settings(&env.settings)
    };
    let sweeper = Sweeper::new(config, env.store.clone()).expect("config");

    let round = sweeper.run_once().await.expect("round");
    assert_eq!(round.sessions, 2, "{round:?}");
    let left: Vec<Vec<u8>> = env
        .seed
        .client()
        .query("SELECT id_hash FROM dashboard_sessions", &[])
        .await
        .expect("sessions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, vec![b"live".to_vec()], "only the live session stays");
    assert_eq!(sweeper.run_once().await.expect("round").sessions, 0);
    drop(sweeper);
    env.finish().await;
}

/// Started as the worker starts it, the reaper reports each round through
/// its test signal; the test awaits the round that reaped the job (no
/// sleep, no polling of the row), then stops the loop, which ends it (its
/// signal closes) without touching the shutdown it was started under.
#[tokio::test]
async fn a_started_reaper_reports_its_rounds_through_its_signal_and_stops_when_asked() {
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let job = job_of_a_dead_worker(&env, sync).await;
    let (round_done, mut rounds) = TestSignal::on();
    let config = ReaperConfig {
        every: Duration::from_millis(50),
        ..ReaperConfig::new(Duration::from_secs(60))
    };
    let shutdown = CancellationToken::new();
    let handle = Reaper::new(config, env.store.clone())
        .expect("config")
        .with_test_signals(reaper::TestSignals { round_done })
        .start(&shutdown);
    assert_eq!(handle.service(), "reaper");

    let round = rounds
        .wait_for(WAIT, |r| r.as_ref().is_ok_and(|r| !r.reaped.is_empty()))
        .await
        .expect("a round reaped the job")
        .expect("the round succeeded");
    assert_eq!(
        round.reaped.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        vec![job]
    );
    assert_eq!(status_of(&env, job).await.0, JobStatus::Pending);

    handle.stop().await;
    assert!(
        !shutdown.is_cancelled(),
        "one loop stopped, not the process"
    );
    // The loop is gone: its rounds so far are still there to read, then
    // the signal closes (no wait runs out).
    let mut after = 0;
    while let Some(round) = rounds.wait(WAIT).await {
        assert!(round.expect("round").reaped.is_empty(), "reaped once");
        after += 1;
    }
    println!("{after} empty round(s) between the reaping one and the stop");
    env.finish().await;
}

/// Started, the dispatcher reports each send; the process's shutdown
/// (not the handle) ends it, and `stop` then returns at once.
#[tokio::test]
async fn a_started_notifier_reports_the_delivery_and_ends_on_shutdown() {
    let env = TestEnv::new().await;
    env.seed.create_project("proj", "Project").await;
    let (receiver, url) = Receiver::start(0).await;
    store_channel(&env, "proj", "team-hook", &url).await;
    let (sent, mut sends) = TestSignal::on();
    let signals = notifier::TestSignals {
        sent,
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let handle = Notifier::new(
        notifier_config(&env),
        env.store.clone(),
        env.cipher().clone(),
    )
    .expect("config")
    .with_test_signals(signals)
    .start(&shutdown);

    // An outcome written while the loop runs is sent by it.
    queue_events(&env, "proj").await;
    let sent = sends.wait(WAIT).await.expect("a send");
    assert!(
        matches!(sent, Sent::Delivered { events: 1, .. }),
        "{sent:?}"
    );
    assert_eq!(receiver.messages().len(), 1);
    assert_eq!(delivered_at_set(&env).await, 1);

    shutdown.cancel();
    tokio::time::timeout(WAIT, handle.stop())
        .await
        .expect("the loop ended on shutdown");
    assert!(sends.wait(WAIT).await.is_none(), "nothing more was sent");
    env.finish().await;
}

/// The gauges' first round runs as the loop starts (a scrape right after
/// a worker starts shows the numbers): awaited through its signal.
#[tokio::test]
async fn started_gauges_set_the_numbers_at_once() {
    let env = TestEnv::new().await;
    env.one_sync().await;
    let metrics = Metrics::new();
    let (round_done, mut rounds) = TestSignal::on();
    let config = GaugesConfig {
        // Far longer than the test: only the first round can be seen.
        every: Duration::from_secs(3600),
        worker_id: "maintenance-test-worker".into(),
    };
    let shutdown = CancellationToken::new();
    let handle = Gauges::new(config, env.store.clone(), metrics.clone())
        .expect("config")
        .with_test_signals(gauges::TestSignals { round_done })
        .start(&shutdown);
    let round = rounds
        .wait(WAIT)
        .await
        .expect("the first round")
        .expect("it succeeded");
    assert!(round.worker_seen);
    let never = metrics
        .syncs
        .get_or_create(&StatusLabel {
            status: "never".into(),
        })
        .get();
    assert_eq!(never, 1);
    handle.stop().await;
    env.finish().await;
}

/// A config that cannot work is refused when the loop is made, naming the
/// loop and the field; a zero reconcile interval is "off" (no schedule).
#[tokio::test]
async fn configs_that_cannot_work_are_refused_with_a_clear_error() {
    // Connects lazily: nothing here reaches a database.
    let store = Store::connect("postgres://postgres@127.0.0.1:5432/unused", 2).expect("pool");
    let zero = ReaperConfig {
        every: Duration::ZERO,
        ..ReaperConfig::new(Duration::from_secs(60))
    };
    let refused = Reaper::new(zero, store.clone())
        .err()
        .expect("a zero period is refused")
        .to_string();
    assert!(
        refused.contains("reaper") && refused.contains("period") && refused.contains("zero"),
        "{refused}"
    );
    assert!(
        ReaperConfig::new(Duration::ZERO).every >= Duration::from_secs(1),
        "the reaper's period is clamped to a second at least"
    );
    let refused = Gauges::new(
        GaugesConfig {
            every: Duration::ZERO,
            worker_id: "w".into(),
        },
        store.clone(),
        Metrics::new(),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(refused.contains("METRICS_REFRESH"), "{refused}");
    assert!(ScheduleConfig::new(Duration::ZERO).is_none(), "zero is off");

    let settings = secret_sync::Settings::from_lookup(|_| None).expect("default settings");
    let mut no_slots = NotifierConfig::from_settings(&settings);
    no_slots.notify.concurrency = 0;
    let key = secret_sync::crypto::generate_key();
    let cipher = secret_sync::Cipher::from_base64_key(&key).expect("key");
    match Notifier::new(no_slots, store.clone(), cipher) {
        Err(NotifierError::Config(e)) => {
            assert!(e.to_string().contains("NOTIFY_CONCURRENCY"), "{e}")
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("no send slots: refused"),
    }
}

/// A broker link of the test's own, as the worker's loops get one.
fn link(env: &TestEnv) -> secret_sync::queue::Link {
    secret_sync::queue::Link::new(&env.settings, env.names.clone(), "test")
}
