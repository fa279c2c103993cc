//! Lose the Postgres primary and lose nothing: a primary with a synchronous
//! streaming standby (`scripts/postgres-pair`, started and stopped by the
//! test), three worker processes on a `DATABASE_URL` listing both with
//! `target_session_attrs=read-write`. The primary is killed (SIGKILL)
//! mid-run and the standby promoted: every job ends `succeeded` exactly
//! once, none is left `pending` or `running`, and no run of a sync starts
//! while another may still hold its lease (a run that lost its outcome
//! write in the kill holds it at most `JOB_STALE_AFTER` past its last
//! heartbeat). Then rows an acknowledged
//! job can leave behind when a failover loses its outcome (`pending` or
//! `running` with no message in the broker) still end: the worker
//! publishes them again.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use humanitec_sandbox::Faults;
use secret_sync_testkit::*;
use serde_json::json;
use uuid::Uuid;

const JOBS: usize = 300;
/// `JOB_STALE_AFTER`: how long a sync's lease outlives its last renewal.
const LEASE_TTL: Duration = Duration::from_secs(2);

/// A fresh connection per call: it finds whichever node takes writes now.
async fn pg(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(client)
}

/// Jobs of `ids` per status, read from the current primary.
async fn statuses(url: &str, ids: &[Uuid]) -> Result<Vec<(String, i64)>, String> {
    let client = pg(url).await?;
    let rows = client
        .query(
            "SELECT status, count(*) FROM secret_sync_jobs WHERE id = ANY($1) GROUP BY status ORDER BY status",
            &[&ids],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

fn count(of: &[(String, i64)], status: &str) -> usize {
    of.iter()
        .find(|(s, _)| s == status)
        .map_or(0, |(_, n)| *n as usize)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_a_multi_host_url_ride_out_a_primary_failover() {
    let pair = PostgresPair::start().await;
    let url = pair.url(&format!("failover_{}", Uuid::new_v4().simple()));
    let prefix = format!("test-{}.", Uuid::new_v4().simple());
    let env = TestEnv::named(&url, &prefix, |name| match name {
        // Short, so that the orphaned rows below are noticed quickly: a
        // `pending` row is taken for an orphan after 5 x this.
        "JOB_STALE_AFTER" => Some(format!("{}s", LEASE_TTL.as_secs())),
        _ => None,
    })
    .await;
    env.sandbox.set_faults(Faults {
        latency_ms: 50,
        ..Faults::default()
    });
    env.seed.execute_sql(JOB_AUDIT_SQL).await;
    let src = env.source("development", &[("A", "1")]).await;
    let mut syncs = Vec::new();
    for i in 0..JOBS + 2 {
        let options = json!({"initialSyncBehavior": "overwrite-destination",
                             "keySchema": format!("S{i}_{{{{secretKey}}}}")});
        syncs.push(
            env.sync(&src, &format!("s{i}"), app_scope("api"), options)
                .await,
        );
    }
    let orphan_syncs = syncs.split_off(JOBS);

    let dir = std::env::temp_dir().join(format!("failover-{}", Uuid::new_v4()));
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
    for w in &workers {
        w.wait_ready_status(200, Duration::from_secs(60)).await;
    }

    let started = Instant::now();
    let jobs: Vec<Uuid> = futures::stream::iter(syncs.iter().map(|sync| env.enqueue(*sync)))
        .buffered(8)
        .collect()
        .await;
    let done_before = eventually(Duration::from_secs(120), || async {
        let s = statuses(&url, &jobs).await?;
        let n = count(&s, "succeeded");
        (n >= 60).then_some(n).ok_or(format!("{s:?}"))
    })
    .await;
    pair.kill(1).await;
    // Taken once the SIGKILL is sent: no commit can come after it until
    // the standby is promoted.
    let kill = Utc::now();
    pair.promote(2).await;
    let promoted = Utc::now();
    println!(
        "primary killed with {done_before} of {JOBS} jobs done; standby promoted {:.2}s later",
        (promoted - kill).num_milliseconds() as f64 / 1000.0
    );
    assert!(done_before < JOBS, "the kill came after the run");

    let final_counts = eventually(Duration::from_secs(180), || async {
        let s = statuses(&url, &jobs).await?;
        let ended = ["succeeded", "failed", "skipped"]
            .iter()
            .map(|st| count(&s, st))
            .sum::<usize>();
        (ended == JOBS).then_some(s.clone()).ok_or(format!("{s:?}"))
    })
    .await;
    println!(
        "{JOBS} jobs ended {:.1}s after the first enqueue: {final_counts:?}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(count(&final_counts, "succeeded"), JOBS, "{final_counts:?}");

    let report = AuditReport::from_events(&read_job_audit(&url).await, LEASE_TTL);
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
    let gap = report.gap_around(kill).expect("jobs ended on both sides");
    println!(
        "failover: {gap:.2}s between the last job ended before the kill and the first after; {} ended after it",
        report.successes_after(kill)
    );

    // What a failover without synchronous replication can leave: the
    // outcome of an acknowledged job lost, its row back to `pending` (or
    // `running`, its worker long gone), and no message in the broker.
    let orphans = [Uuid::new_v4(), Uuid::new_v4()];
    let client = pg(&url).await.expect("new primary");
    client
        .execute(
            "INSERT INTO secret_sync_jobs (id, sync_id, type, trigger, status, enqueued_at)
             VALUES ($1, $2, 'sync', 'test', 'pending', now() - interval '1 hour')",
            &[&orphans[0], &orphan_syncs[0]],
        )
        .await
        .expect("pending orphan");
    client
        .execute(
            "INSERT INTO secret_sync_jobs (id, sync_id, type, trigger, status, enqueued_at, started_at, heartbeat_at, worker_id)
             VALUES ($1, $2, 'sync', 'test', 'running', now() - interval '1 hour', now() - interval '1 hour',
                     now() - interval '1 hour', 'gone:1')",
            &[&orphans[1], &orphan_syncs[1]],
        )
        .await
        .expect("running orphan");
    let noticed = Instant::now();
    eventually(Duration::from_secs(60), || async {
        let s = statuses(&url, &orphans).await?;
        (count(&s, "succeeded") == 2)
            .then_some(())
            .ok_or(format!("{s:?}"))
    })
    .await;
    println!(
        "2 orphaned rows (pending, running) published again and ended within {:.1}s",
        noticed.elapsed().as_secs_f64()
    );
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
    assert_eq!(values.len(), JOBS + 2, "every sync's key is in Humanitec");
    assert!(values.iter().all(|v| v.value == "1"));

    drop(workers);
    let _ = std::fs::remove_dir_all(&dir);
    drop(client);
    env.finish().await;
    drop(pair);
}
