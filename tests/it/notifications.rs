//! Never silent (issue 22): a local receiver stands in for a team's webhook.
//! One message per transition (failed after the last attempt, recovered),
//! signed; a burst of failures is one digest; a receiver that fails gets
//! the message again under the same delivery id; a worker killed between
//! the outcome and the send still delivers after a restart; internal
//! addresses are refused; a job that could not run at all is reported too.
//! Fair and bounded (issue 36): 500 silent receivers of one project do not
//! hold up another project's notification; a claim held while a send runs
//! is never sent twice; a delivery that keeps failing is given up and the
//! channel says why; a project's channels are capped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use secret_sync::crypto::{Aad, Column};
use secret_sync::store::{ClaimLimits, LeaseTake};
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::{json, Value};

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");

/// What the receiver got: headers and JSON body of each request.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    /// Answer 500 to this many requests first.
    fail_first: Arc<Mutex<usize>>,
}

impl Receiver {
    pub(crate) async fn start(fail_first: usize) -> (Receiver, String) {
        let r = Receiver {
            fail_first: Arc::new(Mutex::new(fail_first)),
            ..Receiver::default()
        };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    state.got.lock().expect("lock").push((headers, value));
                    let mut left = state.fail_first.lock().expect("lock");
                    if *left > 0 {
                        *left -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    pub(crate) fn messages(&self) -> Vec<(HeaderMap, Value)> {
        self.got.lock().expect("lock").clone()
    }
}

fn settings(name: &str, window: &'static str) -> Option<String> {
    match name {
        "NOTIFY_ALLOW_PRIVATE_TARGETS" => Some("true".into()),
        "NOTIFY_DIGEST_WINDOW" => Some(window.into()),
        "DASHBOARD_URL" => Some("https://dash.example".into()),
        _ => None,
    }
}

/// Checks the documented signature: HMAC-SHA256 over `<t>.<body>`.
fn verify(secret: &str, headers: &HeaderMap, raw_body: &str) -> bool {
    let Some(sig) = headers
        .get("x-secret-sync-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = "";
    let mut v1 = "";
    for part in sig.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x,
            Some(("v1", x)) => v1 = x,
            _ => {}
        }
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{raw_body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == v1
}

async fn create_channel(api: &ApiClient, url: &str) -> (String, String) {
    let (status, body) = api
        .post(
            "/api/v1/notification-channels",
            json!({"projectId": "proj", "name": "team-hook", "type": "webhook", "url": url}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["notificationChannel"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let secret = body["signingSecret"]
        .as_str()
        .expect("secret shown once")
        .to_string();
    (id, secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signed_message_when_a_sync_fails_and_one_when_it_recovers() {
    let mut env = TestEnv::with(|n| settings(n, "500ms")).await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    // The connection's token is revoked: the sync fails at once, twice.
    let bad = env
        .source_with_token("production", &[("K", "v4lue")], "revoked-token")
        .await;
    let (receiver, url) = Receiver::start(0).await;
    let (channel, secret) = create_channel(&api, &url).await;
    let (_, shown) = api
        .get(&format!("/api/v1/notification-channels/{channel}"))
        .await;
    assert!(!shown.to_string().contains(&url) && !shown.to_string().contains(&secret));
    let sync = env.sync(&bad, "broken", app_scope("web"), options()).await;
    assert_eq!(env.run_sync(sync).await.status, JobStatus::Failed);
    assert_eq!(env.run_sync(sync).await.status, JobStatus::Failed);
    let got = eventually(Duration::from_secs(30), || async {
        let m = receiver.messages();
        seen(m, |m| !m.is_empty())
    })
    .await;
    let (headers, body) = &got[0];
    assert_eq!(body["type"], "failed", "{body}");
    assert_eq!(body["events"][0]["syncName"], "broken");
    assert_eq!(body["events"][0]["projectId"], "proj");
    assert_eq!(body["events"][0]["destination"], "demo-org/web");
    assert_eq!(
        body["events"][0]["link"],
        json!(format!("https://dash.example/syncs/{sync}"))
    );
    assert!(body["events"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("token")));
    assert!(!body.to_string().contains("v4lue"));
    assert!(verify(&secret, headers, &body.to_string()), "signature");
    assert!(!verify("another-secret-xx", headers, &body.to_string()));
    assert_eq!(
        headers
            .get("x-secret-sync-delivery")
            .and_then(|v| v.to_str().ok()),
        body["id"].as_str()
    );

    // Fixed: the next run succeeds and says so, once.
    let (status, _) = api
        .patch(
            &format!("/api/v1/app-connections/humanitec/{}", bad.connection),
            json!({"credentials": {"apiToken": ADMIN_TOKEN}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(env.run_sync(sync).await.status, JobStatus::Succeeded);
    assert_eq!(env.run_sync(sync).await.status, JobStatus::Succeeded);
    let got = eventually(Duration::from_secs(30), || async {
        let m = receiver.messages();
        seen(m, |m| m.len() >= 2)
    })
    .await;
    assert_eq!(got[1].1["type"], "recovered", "{}", got[1].1);
    // The receiver has its answer before the worker records the attempt.
    let codes = delivery_codes(&api, &channel, 2).await;
    assert_eq!(codes, vec![json!(200), json!(200)]);
    let pending = env
        .seed
        .numbers("SELECT count(*) FROM notification_outbox WHERE delivered_at IS NULL")
        .await;
    assert_eq!(pending, vec![0.0]);
    assert_eq!(receiver.messages().len(), 2, "one message per transition");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_failures_at_once_are_one_digest_and_a_failing_receiver_gets_it_again() {
    let mut env = TestEnv::with(|n| settings(n, "8s")).await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    // The receiver fails three times: the fourth try delivers.
    let bad = env
        .source_with_token("production", &[("K", "v")], "revoked-token")
        .await;
    let (receiver, url) = Receiver::start(3).await;
    let (channel, _) = create_channel(&api, &url).await;
    let ids = env
        .seed
        .create_syncs(
            "proj",
            "many-",
            bad.folder,
            bad.connection,
            "demo-org",
            1..=200,
        )
        .await;
    assert_eq!(ids.len(), 200);
    for id in &ids {
        env.enqueue(*id).await;
    }
    env.start_worker().await;
    let got = eventually(Duration::from_secs(60), || async {
        let m = receiver.messages();
        seen(m, |m| m.len() >= 4)
    })
    .await;
    let ids_sent: Vec<&Value> = got.iter().map(|(_, b)| &b["id"]).collect();
    assert!(
        ids_sent.iter().all(|i| *i == ids_sent[0]),
        "one delivery id: {ids_sent:?}"
    );
    let digest = &got[3].1;
    assert_eq!(digest["type"], "digest");
    assert_eq!(digest["events"].as_array().map(Vec::len), Some(200));
    let codes = delivery_codes(&api, &channel, 4).await;
    assert_eq!(codes, vec![json!(200), json!(500), json!(500), json!(500)]);
    assert_eq!(receiver.messages().len(), 4);
    env.finish().await;
}

/// The status codes of the channel's delivery attempts, newest first, once
/// at least `n` are recorded (the receiver has its answer before the worker
/// writes the attempt down).
async fn delivery_codes(api: &ApiClient, channel: &str, n: usize) -> Vec<Value> {
    eventually(Duration::from_secs(30), || async {
        let (_, deliveries) = api
            .get(&format!(
                "/api/v1/notification-channels/{channel}/deliveries"
            ))
            .await;
        let codes: Vec<Value> = deliveries["deliveries"]
            .as_array()
            .map(|a| a.iter().map(|d| d["statusCode"].clone()).collect())
            .unwrap_or_default();
        seen(codes, |c| c.len() >= n)
    })
    .await
}

#[tokio::test]
async fn internal_targets_are_refused_unless_the_operator_allows_them() {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let _folder = env.source("production", &[("K", "v")]).await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    for url in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x",
        "http://[::1]/x",
        "ftp://example.com/x",
        // issue 36: each was accepted before.
        "http://198.18.0.1/x",
        "http://0.1.2.3/x",
        "http://240.0.0.1/x",
        "http://255.255.255.255/x",
        "http://224.0.0.1/x",
        "http://[64:ff9b::7f00:1]/x",
        "http://[2002:7f00:1::]/x",
        "http://[::127.0.0.1]/x",
        "http://[::ffff:169.254.169.254]/x",
        "http://[fe80::1]/x",
        "http://[fd00::1]/x",
        // A name that resolves to loopback: refused without saying where
        // it points.
        "http://localhost:9/hook",
    ] {
        let (status, body) = api
            .post(
                "/api/v1/notification-channels",
                json!({"projectId": "proj", "name": "internal", "type": "webhook", "url": url}),
            )
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("not allowed"), "{body}");
        if url.contains("localhost") {
            for address in ["127.0.0.1", "::1", "127."] {
                assert!(!message.contains(address), "{url}: {message}");
            }
        }
    }
    // A slack channel only to Slack.
    for url in [
        "https://example.com/services/T/B/x",
        "https://hooks.slack.com.example.com/services/T/B/x",
        "http://hooks.slack.com/services/T/B/x",
    ] {
        let (status, body) = api
            .post(
                "/api/v1/notification-channels",
                json!({"projectId": "proj", "name": "slack", "type": "slack", "url": url}),
            )
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("https://hooks.slack.com/")),
            "{body}"
        );
    }
    let none = env
        .seed
        .numbers("SELECT count(*) FROM notification_channels")
        .await;
    assert_eq!(none, vec![0.0]);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_the_outcome_and_the_send_still_delivers() {
    let mut env = TestEnv::with(|n| settings(n, "3s")).await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    let bad = env
        .source_with_token("production", &[("K", "v")], "revoked-token")
        .await;
    let (receiver, url) = Receiver::start(0).await;
    create_channel(&api, &url).await;
    let sync = env.sync(&bad, "broken", app_scope("web"), options()).await;
    let extra = [
        ("NOTIFY_ALLOW_PRIVATE_TARGETS", "true".to_string()),
        ("NOTIFY_DIGEST_WINDOW", "3s".to_string()),
    ];
    let log = std::env::temp_dir().join(format!("notify-{}.log", uuid::Uuid::new_v4()));
    let mut worker = WorkerProcess::spawn(EXE, &env.settings, &extra, &log);
    let job = env.wait_job(env.enqueue(sync).await).await;
    assert_eq!(job.status, JobStatus::Failed);
    // The outcome and its outbox row are written; the digest window holds
    // the send: SIGKILL now.
    let waiting = env
        .seed
        .numbers("SELECT count(*) FROM notification_outbox WHERE delivered_at IS NULL")
        .await;
    assert_eq!(waiting, vec![1.0]);
    worker.kill().await;
    assert!(receiver.messages().is_empty(), "sent before the kill");
    let mut worker = WorkerProcess::spawn(EXE, &env.settings, &extra, &log);
    let got = eventually(Duration::from_secs(30), || async {
        let m = receiver.messages();
        seen(m, |m| !m.is_empty())
    })
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["type"], "failed");
    worker.kill().await;
    worker.remove_log();
    env.finish().await;
}

#[tokio::test]
async fn old_attempts_and_delivered_notifications_are_deleted() {
    let env = TestEnv::new().await;
    let src = env.source("production", &[("K", "v")]).await;
    let at = secret_sync::crypto::Aad::new("proj", secret_sync::crypto::Column::ChannelUrl);
    let sealed = env.cipher().encrypt_str("https://203.0.113.10/hook", at);
    let channel = match env
        .store
        .outbox
        .insert_channel("proj", "old", "slack", &sealed, None, &[])
        .await
        .expect("channel")
    {
        secret_sync::store::Written::Done(c) => c.id,
        other => panic!("{other:?}"),
    };
    let sync = env.sync(&src, "s", app_scope("web"), options()).await;
    env.seed
        .execute_sql(&format!(
            "INSERT INTO notification_attempts (channel_id, delivery_id, events, status_code, at)
             VALUES ('{channel}', gen_random_uuid(), 1, 200, now() - interval '100 days'),
                    ('{channel}', gen_random_uuid(), 1, 200, now());
             INSERT INTO notification_outbox (channel_id, project_id, sync_id, job_id, job_type,
                                              event, message, delivered_at)
             VALUES ('{channel}', 'proj', '{sync}', gen_random_uuid(), 'sync', 'failed', 'm',
                     now() - interval '100 days'),
                    ('{channel}', 'proj', '{sync}', gen_random_uuid(), 'sync', 'failed', 'm', NULL)"
        ))
        .await;
    let gone = env
        .store
        .outbox
        .delete_old_deliveries(Duration::from_secs(90 * 86_400), 500)
        .await
        .expect("delete");
    assert_eq!(gone, 2);
    let left = env
        .seed
        .numbers(
            "SELECT (SELECT count(*) FROM notification_attempts)
                  + (SELECT count(*) FROM notification_outbox)",
        )
        .await;
    assert_eq!(
        left,
        vec![2.0],
        "the recent attempt and the undelivered event stay"
    );
    env.finish().await;
}

/// A job that fails without running (its sync stayed busy for every try)
/// is a failure the team hears of too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_could_not_run_for_too_long_is_reported_as_failed() {
    let mut env = TestEnv::with(|n| match n {
        "SYNC_BUSY_DELAY" => Some("100ms".into()),
        "JOB_MAX_DEFERRALS" => Some("2".into()),
        _ => settings(n, "500ms"),
    })
    .await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    let src = env.source("production", &[("K", "v4lue")]).await;
    let sync = env.sync(&src, "held", app_scope("web"), options()).await;
    let (receiver, url) = Receiver::start(0).await;
    create_channel(&api, &url).await;
    // Another run holds the sync's lease for longer than the job will wait.
    let held = env
        .store
        .ledger
        .try_lease_sync(
            sync,
            uuid::Uuid::new_v4(),
            "another run",
            Duration::from_secs(600),
        )
        .await
        .expect("lease");
    assert!(matches!(held.take, LeaseTake::Taken(_)), "{held:?}");
    env.start_worker().await;
    let job = env.run_sync(sync).await;
    assert_eq!(job.status, JobStatus::Failed);
    let got = eventually(Duration::from_secs(30), || async {
        let m = receiver.messages();
        seen(m, |m| !m.is_empty())
    })
    .await;
    let body = &got[0].1;
    assert_eq!(body["type"], "failed", "{body}");
    assert_eq!(body["events"][0]["syncName"], "held");
    assert!(
        body["events"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("stayed busy")),
        "{body}"
    );
    assert!(!body.to_string().contains("v4lue"));
    env.finish().await;
}

/// A channel of `project` to `url`, written straight to the store (past
/// the API's target check, which refuses the tests' loopback receivers
/// unless the operator allows them).
pub(crate) async fn store_channel(
    env: &TestEnv,
    project: &str,
    name: &str,
    url: &str,
) -> uuid::Uuid {
    let sealed = env
        .cipher()
        .encrypt_str(url, Aad::new(project, Column::ChannelUrl));
    match env
        .store
        .outbox
        .insert_channel(project, name, "webhook", &sealed, None, &[])
        .await
        .expect("channel")
    {
        secret_sync::store::Written::Done(c) => c.id,
        other => panic!("{other:?}"),
    }
}

/// One `failed` event waiting for every channel of `project` (as a job's
/// outcome writes it).
pub(crate) async fn queue_events(env: &TestEnv, project: &str) {
    env.seed
        .execute_sql(&format!(
            "INSERT INTO notification_outbox (channel_id, project_id, sync_id, job_id, job_type,
                                              event, message)
             SELECT id, project_id, gen_random_uuid(), gen_random_uuid(), 'sync', 'failed', 'm'
               FROM notification_channels WHERE project_id = '{project}'"
        ))
        .await;
}

/// A receiver that accepts connections and never answers (holds them
/// open); counts the connections.
async fn silent_receiver() -> (Arc<AtomicUsize>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (accepted, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_silent_receivers_do_not_hold_up_another_projects_notification() {
    const SEND_TIMEOUT: Duration = Duration::from_secs(5);
    let mut env = TestEnv::with(|n| match n {
        "NOTIFY_SEND_TIMEOUT" => Some("5s".into()),
        "NOTIFY_POLL_EVERY" => Some("100ms".into()),
        _ => settings(n, "0s"),
    })
    .await;
    let project_cap = env.settings.notify.project_concurrency;
    env.seed.create_project("proj", "Project").await;
    env.seed.create_project("other", "Other").await;
    let (accepted, silent) = silent_receiver().await;
    for i in 0..500 {
        store_channel(&env, "proj", &format!("silent-{i}"), &silent).await;
    }
    let (receiver, url) = Receiver::start(0).await;
    store_channel(&env, "other", "team-hook", &url).await;
    queue_events(&env, "proj").await;
    env.start_worker().await;
    // Every slot the project may hold is taken by a send that will not be
    // answered before its timeout.
    eventually(Duration::from_secs(30), || async {
        seen(accepted.load(Ordering::SeqCst), |n| *n >= project_cap)
    })
    .await;
    let started = Instant::now();
    queue_events(&env, "other").await;
    let got = eventually(Duration::from_secs(30), || async {
        seen(receiver.messages(), |m| !m.is_empty())
    })
    .await;
    let delay = started.elapsed();
    println!(
        "another project's notification arrived {delay:?} after it was queued, while 500 \
         channels of one project pointed at a server that never answers \
         (NOTIFY_SEND_TIMEOUT {SEND_TIMEOUT:?}, NOTIFY_PROJECT_CONCURRENCY {project_cap}, \
         {} silent connections so far)",
        accepted.load(Ordering::SeqCst)
    );
    assert!(delay < SEND_TIMEOUT, "held up for {delay:?}");
    assert_eq!(got[0].1["events"][0]["projectId"], "other");
    // The silent project never holds more than its share at once.
    let held = env
        .seed
        .numbers(
            "SELECT count(DISTINCT delivery_id) FROM notification_outbox
              WHERE project_id = 'proj' AND claimed_until >= now()",
        )
        .await;
    assert!(held[0] <= project_cap as f64, "{held:?}");
    env.finish().await;
}

/// A receiver that holds every request until `release` is notified;
/// records the delivery id of each request.
async fn held_receiver() -> (Arc<Mutex<Vec<String>>>, Arc<tokio::sync::Notify>, String) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let release = Arc::new(tokio::sync::Notify::new());
    let (state, gate) = (got.clone(), release.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let (state, gate) = (state.clone(), gate.clone());
            async move {
                let id = headers
                    .get("x-secret-sync-delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let released = gate.notified();
                state.lock().expect("lock").push(id);
                released.await;
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (got, release, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_outlasts_its_claim_keeps_it_and_is_never_sent_twice() {
    // The claim is 600 ms; the receiver answers only when told, long after.
    let mut env = TestEnv::with(|n| match n {
        "NOTIFY_CLAIM_FOR" => Some("600ms".into()),
        "NOTIFY_SEND_TIMEOUT" => Some("60s".into()),
        "NOTIFY_POLL_EVERY" => Some("50ms".into()),
        _ => settings(n, "0s"),
    })
    .await;
    env.seed.create_project("proj", "Project").await;
    let (got, release, url) = held_receiver().await;
    store_channel(&env, "proj", "slow", &url).await;
    queue_events(&env, "proj").await;
    // Two dispatchers compete for the delivery.
    env.start_worker().await;
    env.start_worker().await;
    eventually(Duration::from_secs(30), || async {
        seen(got.lock().expect("lock").len(), |n| *n >= 1)
    })
    .await;
    let claimed_until = |sql: &'static str| {
        let seed = &env.seed;
        async move { seed.numbers(sql).await }
    };
    let first = claimed_until(
        "SELECT extract(epoch FROM max(claimed_until))::float8 FROM notification_outbox",
    )
    .await;
    // The claim is extended while the send runs: wait until it reaches
    // more than five claim lengths past the first one.
    eventually(Duration::from_secs(30), || async {
        let now = claimed_until(
            "SELECT extract(epoch FROM max(claimed_until))::float8 FROM notification_outbox
              WHERE delivered_at IS NULL",
        )
        .await;
        seen(now, |n| {
            n.first()
                .zip(first.first())
                .is_some_and(|(n, f)| n - f >= 3.0)
        })
    })
    .await;
    let attempts = env
        .seed
        .numbers("SELECT count(*) FROM notification_attempts")
        .await;
    assert_eq!(attempts, vec![0.0], "still the first send");
    assert_eq!(
        got.lock().expect("lock").len(),
        1,
        "sent again while its claim was held"
    );
    release.notify_waiters();
    eventually(Duration::from_secs(30), || async {
        let n = env
            .seed
            .numbers(
                "SELECT count(*) FROM notification_outbox
                  WHERE delivered_at IS NOT NULL AND claimed_by IS NULL",
            )
            .await;
        seen(n, |n| n == &vec![1.0])
    })
    .await;
    let attempts = env
        .seed
        .numbers("SELECT count(*) FROM notification_attempts WHERE status_code = 200")
        .await;
    assert_eq!(attempts, vec![1.0]);
    assert_eq!(got.lock().expect("lock").len(), 1, "one request in all");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_keeps_failing_is_given_up_and_the_channel_says_why() {
    let mut env = TestEnv::with(|n| match n {
        "NOTIFY_GIVE_UP_AFTER" => Some("1s".into()),
        "NOTIFY_POLL_EVERY" => Some("100ms".into()),
        _ => settings(n, "0s"),
    })
    .await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    env.seed.create_project("proj", "Project").await;
    let (receiver, url) = Receiver::start(usize::MAX).await;
    let channel = store_channel(&env, "proj", "down", &url).await;
    queue_events(&env, "proj").await;
    env.start_worker().await;
    let list = eventually(Duration::from_secs(30), || async {
        let (_, list) = api
            .get("/api/v1/notification-channels?projectId=proj")
            .await;
        seen(list, |l| {
            l["notificationChannels"][0]["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("stopped retrying"))
        })
    })
    .await;
    let shown = &list["notificationChannels"][0];
    assert_eq!(shown["failing"], true, "{shown}");
    let error = shown["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("answered 5xx") && error.contains("NOTIFY_GIVE_UP_AFTER"),
        "{error}"
    );
    assert!(!error.contains("127.0.0.1"), "{error}");
    let given_up = env
        .seed
        .numbers("SELECT count(*) FROM notification_outbox WHERE given_up_at IS NOT NULL")
        .await;
    assert_eq!(given_up, vec![1.0]);
    // No claim takes it again.
    assert_nothing_left_to_claim(&env).await;
    let tries = receiver.messages().len();
    let (_, deliveries) = api
        .get(&format!(
            "/api/v1/notification-channels/{channel}/deliveries"
        ))
        .await;
    assert_eq!(
        deliveries["deliveries"].as_array().map(Vec::len),
        Some(tries),
        "{deliveries}"
    );
    for d in deliveries["deliveries"].as_array().into_iter().flatten() {
        assert_eq!(d["statusCode"], 500);
        assert!(
            d["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("the receiver answered 5xx")),
            "{d}"
        );
    }
    env.finish().await;
}

#[tokio::test]
async fn a_project_has_at_most_its_channel_limit() {
    let mut env = TestEnv::with(|n| match n {
        "NOTIFY_MAX_CHANNELS_PER_PROJECT" => Some("2".into()),
        _ => settings(n, "1s"),
    })
    .await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    env.seed.create_project("proj", "Project").await;
    for name in ["one", "two", "three"] {
        let (status, body) = api
            .post(
                "/api/v1/notification-channels",
                json!({"projectId": "proj", "name": name, "type": "webhook",
                       "url": "http://127.0.0.1:9/hook"}),
            )
            .await;
        if name == "three" {
            assert_eq!(status, 400, "{body}");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("already has 2 notification channels")
                    && message.contains("NOTIFY_MAX_CHANNELS_PER_PROJECT"),
                "{body}"
            );
        } else {
            assert_eq!(status, 200, "{body}");
        }
    }
    let count = env
        .seed
        .numbers("SELECT count(*) FROM notification_channels")
        .await;
    assert_eq!(count, vec![2.0]);
    env.finish().await;
}

/// No claim takes a delivery that was given up (or sent) again.
pub(crate) async fn assert_nothing_left_to_claim(env: &TestEnv) {
    let claimed = env
        .store
        .outbox
        .claim_deliveries(ClaimLimits {
            window: Duration::ZERO,
            claim_for: Duration::from_secs(60),
            take: 100,
            per_channel: 100,
            per_project: 100,
        })
        .await
        .expect("claim");
    assert!(claimed.is_empty(), "{claimed:?}");
}
