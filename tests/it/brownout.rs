//! A RabbitMQ too overloaded to answer (it accepts TCP connections but never
//! answers the AMQP handshake) is not made sicker by the worker and the
//! API, and the API stays useful meanwhile: triggers answer 503 with
//! `Retry-After` at once, reads answer as before, and once the broker
//! answers again, work resumes by itself.

use std::time::{Duration, Instant};

use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::json;
use uuid::Uuid;

/// How long the brown-out is held: five minutes, long enough for every
/// backoff to reach its cap many times over. `BROWNOUT_SECS` shortens it
/// for a quick local run.
fn brownout() -> Duration {
    std::env::var("BROWNOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs)
}

/// What a trigger may take during the brown-out, end to end.
const TRIGGER_LIMIT: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_accepts_and_never_answers_gets_at_most_two_sockets_and_work_resumes() {
    let mut env = TestEnv::new().await;
    let (src, sync) = env.one_sync().await;
    // The worker and the API (one process here, each with its one broker
    // connection) reach RabbitMQ only through the proxy; the test kit's
    // own client goes direct.
    let (proxy, amqp_url) = Proxy::in_front_of(&env.settings.amqp_url).await;
    env.settings.amqp_url = amqp_url;
    env.start_worker().await;
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
    let read = || {
        http.get(format!("{base}/api/v1/secret-syncs/humanitec/{sync}"))
            .bearer_auth(&token)
            .send()
    };
    let job_of = |body: &serde_json::Value| {
        body["secretSync"]["lastSyncJobId"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    // Working before.
    let response = trigger().await.expect("the API answers");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    let before = job_of(&body).unwrap_or_else(|| panic!("a 200 names its job: {body}"));
    assert_eq!(env.wait_job(before).await.status, JobStatus::Succeeded);

    proxy.hang();
    let started = Instant::now();
    let (mut trigger_ms, mut read_ms) = (Vec::new(), Vec::new());
    while started.elapsed() < brownout() {
        let asked = Instant::now();
        let response = trigger().await.expect("the API answers");
        let took = asked.elapsed();
        assert_eq!(
            response.status().as_u16(),
            503,
            "after {:?}",
            started.elapsed()
        );
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        assert!(
            retry_after.is_some_and(|s| (1..=30).contains(&s)),
            "{retry_after:?}"
        );
        assert!(took <= TRIGGER_LIMIT, "a trigger took {took:?}");
        trigger_ms.push(took.as_millis());

        let asked = Instant::now();
        let response = read().await.expect("the API answers");
        assert_eq!(response.status().as_u16(), 200, "reads keep answering");
        read_ms.push(asked.elapsed().as_millis());

        assert!(
            proxy.most_held() <= 2,
            "{} sockets held at once after {:?}",
            proxy.most_held(),
            started.elapsed()
        );
        pace::hold(Duration::from_secs(3)).await;
    }
    let most_held = proxy.most_held();
    let no_job = "SELECT count(*) FROM secret_sync_jobs WHERE id <> $1";
    let refused_rows: i64 = env
        .sql()
        .await
        .query_one(no_job, &[&before])
        .await
        .expect("count")
        .get(0);
    assert_eq!(refused_rows, 0, "a refused trigger queues nothing");

    proxy.restore();
    let resumed = Instant::now();
    // Work resumes by itself: the attempts in flight end (their sockets
    // closed), the next ones reach RabbitMQ, and a trigger runs its job.
    let after = eventually(Duration::from_secs(90), || async {
        let response = trigger().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
        match (status, job_of(&body)) {
            (200, Some(job)) => Ok(job),
            _ => Err(format!("{status}: {body}")),
        }
    })
    .await;
    let row = env.wait_job(after).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    let resumed_after = resumed.elapsed();
    eventually(Duration::from_secs(30), || async {
        seen(proxy.held(), |n| *n == 0)
    })
    .await;

    trigger_ms.sort_unstable();
    read_ms.sort_unstable();
    let median = |v: &[u128]| v.get(v.len() / 2).copied().unwrap_or_default();
    println!(
        "brown-out of {} s: at most {most_held} sockets held at once; {} triggers answered 503 in {} ms (median) to {} ms (most); reads {} ms (median) to {} ms; work resumed {} ms after the broker answered",
        brownout().as_secs(),
        trigger_ms.len(),
        median(&trigger_ms),
        trigger_ms.last().copied().unwrap_or_default(),
        median(&read_ms),
        read_ms.last().copied().unwrap_or_default(),
        resumed_after.as_millis(),
    );
    assert!(most_held <= 2, "{most_held}");
    env.finish().await;
}
