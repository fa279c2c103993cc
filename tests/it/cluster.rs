//! Lose any one RabbitMQ node and lose nothing: a 3-node cluster
//! (`scripts/rabbitmq-cluster`, started and stopped by the test), three
//! worker processes and the API listing all three nodes in `AMQP_URL`.
//! The node leading the jobs queue is killed (SIGKILL) mid-run and
//! restarted, then another node is killed: every job still ends exactly
//! once, no sync runs twice at once, and the API answers every trigger with
//! 200 or a 503 that says what happened, never a 500.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use humanitec_sandbox::Faults;
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::{json, Value};
use uuid::Uuid;

const JOBS: usize = 1000;
const API_SYNCS: usize = 20;

/// Jobs of `ids` whose rows are `succeeded`.
async fn succeeded(env: &TestEnv, ids: &[Uuid]) -> usize {
    let client = pg(&env.settings.database_url).await;
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM secret_sync_jobs WHERE id = ANY($1) AND status = 'succeeded'",
            &[&ids],
        )
        .await
        .expect("count")
        .get(0);
    n as usize
}

async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("database");
    tokio::spawn(conn);
    client
}

/// The RabbitMQ node a ready worker is on, as its `/metrics` names it
/// (`/readyz` names no address).
async fn node_of(worker: &WorkerProcess) -> String {
    eventually(Duration::from_secs(60), || async {
        let (status, body) = worker.get("/readyz").await.ok_or("no answer")?;
        if status != 200 {
            return Err(format!("/readyz {status} {body}"));
        }
        let (_, metrics) = worker.get("/metrics").await.ok_or("no answer")?;
        metrics
            .lines()
            .filter(|l| l.starts_with("secret_sync_broker_node{") && l.ends_with(" 1"))
            .find_map(|l| l.split("node=\"").nth(1)?.split('"').next())
            .map(str::to_string)
            .ok_or_else(|| "no current broker node in /metrics".to_string())
    })
    .await
}

/// What the API answered to one trigger.
struct Answer {
    status: u16,
    body: Value,
}

/// Triggers syncs over HTTP, round the list, until `stop`.
async fn trigger_until(
    base: String,
    token: String,
    syncs: Vec<Uuid>,
    stop: Arc<AtomicBool>,
) -> Vec<Answer> {
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    let mut pace = tokio::time::interval(Duration::from_millis(40));
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        pace.tick().await;
        let sync = syncs[i % syncs.len()];
        i += 1;
        let sent = http
            .post(format!(
                "{base}/api/v1/secret-syncs/humanitec/{sync}/sync-secrets"
            ))
            .bearer_auth(&token)
            .json(&json!({}))
            .timeout(Duration::from_secs(70))
            .send()
            .await;
        let Ok(response) = sent else {
            answers.push(Answer {
                status: 0,
                body: json!({"transport": format!("{:?}", sent.err())}),
            });
            continue;
        };
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        answers.push(Answer { status, body });
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_and_the_api_ride_out_killing_the_queue_leader_then_another_node() {
    let cluster = RabbitCluster::start().await;
    let amqp = cluster.url();
    let mut env = TestEnv::with(|name| match name {
        "AMQP_URL" => Some(amqp.clone()),
        "RATE_LIMIT_TRIGGERS" => Some("1000/s,1000".into()),
        "JOB_STALE_AFTER" => Some("10s".into()),
        _ => None,
    })
    .await;
    // Slow enough that the run outlasts the first node's restart on a
    // loaded machine: the second kill must land mid-run.
    env.sandbox.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    env.seed.execute_sql(JOB_AUDIT_SQL).await;
    let src = env.source("development", &[("A", "1")]).await;
    let mut syncs = Vec::new();
    for i in 0..JOBS + API_SYNCS {
        let options = json!({"initialSyncBehavior": "overwrite-destination",
                             "keySchema": format!("S{i}_{{{{secretKey}}}}")});
        syncs.push(
            env.sync(&src, &format!("s{i}"), app_scope("api"), options)
                .await,
        );
    }
    let api_syncs = syncs.split_off(JOBS);

    let base = env.start_api().await;
    let token = env.api_token(&[&src.project], "write").await;

    let started = Instant::now();
    // Eight enqueues at a time, as several API replicas would.
    let jobs: Vec<Uuid> = futures::stream::iter(syncs.iter().map(|sync| env.enqueue(*sync)))
        .buffered(8)
        .collect()
        .await;
    println!(
        "{JOBS} jobs enqueued in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // The workers start on a full queue, so that both kills land mid-run
    // (started beside the enqueue, they kept up with it).
    let dir = std::env::temp_dir().join(format!("cluster-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let workers: Vec<WorkerProcess> = (1..=3)
        .map(|i| {
            WorkerProcess::spawn(
                env!("CARGO_BIN_EXE_secret-sync"),
                &env.settings,
                &[
                    ("HOSTNAME", format!("w{i}")),
                    ("WORKER_CONCURRENCY", "4".into()),
                    ("RUST_LOG", "warn".into()),
                ],
                &dir.join(format!("w{i}.log")),
            )
        })
        .collect();
    let mut nodes = Vec::new();
    for w in &workers {
        nodes.push(node_of(w).await);
    }
    println!("workers start on nodes {nodes:?} (random starts)");

    // Kill 1: the node leading the jobs queue, mid-run, with the API
    // taking triggers all along.
    let jobs_queue = env.names.jobs_queue();
    let first = cluster.leader(&jobs_queue).await;
    eventually(Duration::from_secs(120), || async {
        let n = succeeded(&env, &jobs).await;
        (n >= 150).then_some(()).ok_or(format!("{n} succeeded"))
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let triggers = tokio::spawn(trigger_until(
        base.clone(),
        token.clone(),
        api_syncs.clone(),
        stop.clone(),
    ));
    let done_before = succeeded(&env, &jobs).await;
    cluster.kill(first).await;
    let kill1 = Utc::now();
    println!("killed node {first} (jobs queue leader) with {done_before} of {JOBS} jobs done");
    eventually(Duration::from_secs(120), || async {
        let n = succeeded(&env, &jobs).await;
        (n >= (done_before + 50).min(JOBS))
            .then_some(())
            .ok_or(format!("{n} succeeded"))
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let answers = triggers.await.expect("trigger loop");
    cluster.restart(first).await;
    println!("node {first} restarted");
    // Every queue, the wait ladder's included, is replicated to all three
    // (membership does not grow by itself: three now means three before).
    let mut queues = vec![jobs_queue.clone(), env.names.events_queue()];
    queues.extend(env.names.wait_queues());
    for queue in &queues {
        assert_eq!(cluster.replicas(queue).await, 3, "replicas of {queue}");
    }

    // Kill 2: another node, still mid-run: the one the first worker is on
    // (never the node just restarted: it was down when the workers on it
    // moved), so that at least one worker has to move.
    let mut before = Vec::new();
    for w in &workers {
        before.push(node_of(w).await);
    }
    println!("workers are on nodes {before:?} before the second kill");
    let second = (1..=3)
        .find(|n| cluster.node_label(*n) == before[0])
        .expect("the first worker is on a node of the cluster");
    assert_ne!(second, first);
    let done_before2 = succeeded(&env, &jobs).await;
    assert!(
        done_before2 < JOBS,
        "all jobs ended before the second kill: make the run longer"
    );
    cluster.kill(second).await;
    let kill2 = Utc::now();
    println!("killed node {second} with {done_before2} of {JOBS} jobs done");

    let mut rows = Vec::new();
    for job in &jobs {
        rows.push(
            env.wait_job_until(*job, Duration::from_secs(180), |r| r.status.is_final())
                .await,
        );
    }
    println!(
        "{JOBS} jobs ended {:.1}s after the first enqueue",
        started.elapsed().as_secs_f64()
    );
    for row in &rows {
        assert_eq!(
            row.status,
            JobStatus::Succeeded,
            "job {} ended {}: {:?}",
            row.id,
            row.status,
            row.message
        );
    }

    // The API: 200 or 503 with a message, never a 500; every 200's job ends.
    let mut api_jobs = HashSet::new();
    let (mut ok, mut unavailable) = (0, 0);
    for a in &answers {
        match a.status {
            200 => {
                ok += 1;
                let job = a.body["secretSync"]["lastSyncJobId"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .unwrap_or_else(|| panic!("a 200 without a job id: {}", a.body));
                api_jobs.insert(job);
            }
            503 => {
                unavailable += 1;
                let message = a.body["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("RabbitMQ is unavailable") && a.body["statusCode"] == 503,
                    "a 503 says what happened: {}",
                    a.body
                );
            }
            other => panic!("a trigger answered {other}: {}", a.body),
        }
    }
    println!(
        "API during the first kill: {} triggers, {ok} answered 200 ({} jobs), {unavailable} answered 503",
        answers.len(),
        api_jobs.len()
    );
    assert!(ok > 0, "the API took triggers during the kill");
    for job in &api_jobs {
        let row = env
            .wait_job_until(*job, Duration::from_secs(120), |r| r.status.is_final())
            .await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    }

    // Exactly once, never twice at once, nothing left behind.
    let report = AuditReport::from_events(
        &read_job_audit(&env.settings.database_url).await,
        env.settings.worker.stale_after,
    );
    for job in &jobs {
        assert_eq!(
            report.succeeded.get(job).copied().unwrap_or(0),
            1,
            "job {job} ended succeeded exactly once"
        );
    }
    assert!(
        report.overlapping.is_empty(),
        "syncs that ran twice at once: {:?}",
        report.overlapping
    );
    let client = pg(&env.settings.database_url).await;
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM secret_sync_jobs WHERE status IN ('pending', 'running')",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "jobs left pending or running");
    let values = env.sandbox.values(ORG, "api", None);
    let keys: HashSet<&str> = values.iter().map(|v| v.key.as_str()).collect();
    for i in 0..JOBS {
        assert!(
            keys.contains(format!("S{i}_A").as_str()),
            "S{i}_A in Humanitec"
        );
    }
    assert!(values.iter().all(|v| v.value == "1"));
    for (what, at) in [("first", kill1), ("second", kill2)] {
        let gap = report.gap_around(at).expect("jobs ended on both sides");
        println!(
            "{what} kill: {gap:.2}s between the last job ended before it and the first after; {} ended after it",
            report.successes_after(at)
        );
    }
    let mut after = Vec::new();
    for w in &workers {
        after.push(node_of(w).await);
    }
    println!("workers end on nodes {after:?}");
    let dead = cluster.node_label(second);
    assert!(
        !after.contains(&dead),
        "no worker is on the dead node {dead}: {after:?}"
    );
    drop(workers);
    let _ = std::fs::remove_dir_all(&dir);
    env.finish().await;
    drop(cluster);
}
