//! Dashboard response times at scale: seeds 10,000 syncs and 100,000 job
//! rows, then times every page through the real HTTP server: the syncs
//! list in every sort (both directions), with filters, searches and deep
//! pages, a sync's detail page, a job's page, the preview-free pages
//! (overview, dead letters), and prints each median (goal: under 100 ms)
//! and the query plans of the list, history and per-minute queries.
//!
//! `cargo run --example bench_dashboard` (Postgres and RabbitMQ running).

use std::time::{Duration, Instant};

use secret_sync_testkit::*;
use tokio_postgres::NoTls;
use uuid::Uuid;

const SYNCS: i64 = 10_000;
const JOBS_PER_SYNC: i64 = 10;
const RUNS: usize = 30;

#[tokio::main]
async fn main() {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "read").await;
    let src = env.source("production", &[("K", "v")]).await;

    let (db, conn) = tokio_postgres::connect(&env.settings.database_url, NoTls)
        .await
        .expect("database");
    tokio::spawn(conn);
    let seeded = Instant::now();
    db.batch_execute(&format!(
        "INSERT INTO secret_syncs (name, project_id, folder_id, connection_id, destination_config,
                                   sync_status, last_sync_message, last_synced_at)
         SELECT 'sync-' || lpad(g::text, 5, '0'), 'proj', '{folder}', '{conn}',
                jsonb_build_object('scope', 'application', 'org', 'demo-org', 'app', 'app-' || g),
                (ARRAY['succeeded', 'failed', 'pending', 'running', NULL])[1 + g % 5],
                CASE WHEN g % 5 = 1 THEN 'Humanitec refused the token (401)' END,
                now() - g * interval '1 second'
           FROM generate_series(1, {SYNCS}) g;
         INSERT INTO secret_sync_jobs (id, sync_id, project_id, type, trigger, status, attempt,
                                       max_attempts, enqueued_at, started_at, finished_at,
                                       worker_id, created_count, unchanged_count)
         SELECT gen_random_uuid(), s.id, 'proj', 'sync', 'event',
                (ARRAY['succeeded', 'failed', 'skipped'])[1 + (g + s.n) % 3], 1, 5,
                now() - (g * 400 + s.n % 400) * interval '1 second',
                now() - (g * 400 + s.n % 400) * interval '1 second' + interval '50 ms',
                now() - (g * 400 + s.n % 400) * interval '1 second' + interval '900 ms',
                'worker-' || (s.n % 4), 1, 3
           FROM (SELECT id, row_number() OVER () AS n FROM secret_syncs) s,
                generate_series(1, {JOBS_PER_SYNC}) g;
         ANALYZE secret_syncs; ANALYZE secret_sync_jobs;",
        folder = src.folder,
        conn = src.connection,
    ))
    .await
    .expect("seed");
    // What autovacuum does to a table of this size soon after: the
    // visibility map lets index-only scans skip the heap.
    db.batch_execute("VACUUM ANALYZE secret_sync_jobs")
        .await
        .expect("vacuum");
    println!(
        "seeded {SYNCS} syncs and {} job rows in {:?}",
        SYNCS * JOBS_PER_SYNC,
        seeded.elapsed()
    );
    let some_sync: Uuid = db
        .query_one("SELECT id FROM secret_syncs WHERE name = 'sync-05000'", &[])
        .await
        .expect("a sync")
        .get(0);
    let some_job: Uuid = db
        .query_one(
            "SELECT id FROM secret_sync_jobs WHERE sync_id = $1 LIMIT 1",
            &[&some_sync],
        )
        .await
        .expect("a job")
        .get(0);

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // Sign in once: the cookie holds the session id, not the token.
    let login = http
        .post(format!("{base}/login"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("login");
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let mut pages: Vec<(String, String)> = vec![
        ("syncs, first page (failed first)".into(), "/".into()),
        ("syncs, page 100".into(), "/?page=100".into()),
        (
            "syncs, status=succeeded".into(),
            "/?status=succeeded".into(),
        ),
        ("syncs, status=failed".into(), "/?status=failed".into()),
        ("syncs, app filter".into(), "/?app=app-4242".into()),
        ("syncs, search name 'sync-09'".into(), "/?q=sync-09".into()),
        (
            "syncs, search destination".into(),
            "/?q=demo-org%2Fapp-42".into(),
        ),
        (
            "syncs, search source path '/app'".into(),
            "/?q=%2Fapp".into(),
        ),
        ("syncs, search (no match)".into(), "/?q=nothing-here".into()),
        (
            "syncs fragment (live refresh)".into(),
            "/?fragment=1".into(),
        ),
    ];
    for sort in [
        "status",
        "name",
        "destination",
        "last-synced",
        "last-failure",
    ] {
        for dir in ["asc", "desc"] {
            pages.push((
                format!("syncs, sort {sort} {dir}"),
                format!("/?sort={sort}&dir={dir}"),
            ));
        }
    }
    pages.push((
        "syncs, sort last-failure, page 100".into(),
        "/?sort=last-failure&dir=desc&page=100".into(),
    ));
    pages.push((
        "sync detail (50 of its jobs)".into(),
        format!("/syncs/{some_sync}"),
    ));
    pages.push(("job page".into(), format!("/jobs/{some_job}")));
    pages.push(("overview".into(), "/overview".into()));
    pages.push(("dead letters".into(), "/dead".into()));

    println!("\n{:<44} {:>9} {:>9} {:>9}", "page", "median", "p95", "max");
    let mut slowest = Duration::ZERO;
    for (label, path) in &pages {
        slowest = slowest.max(time_page(&http, &base, &cookie, label, path).await);
    }
    // The same viewer once another project exists: the overview's
    // per-minute counts then check each job's project.
    db.batch_execute("INSERT INTO projects (id, name) VALUES ('other', 'Other')")
        .await
        .expect("a second project");
    slowest = slowest.max(
        time_page(
            &http,
            &base,
            &cookie,
            "overview, one project of two",
            "/overview",
        )
        .await,
    );
    println!(
        "\nslowest median: {:.1} ms (goal: under 100 ms){}",
        slowest.as_secs_f64() * 1000.0,
        if slowest < Duration::from_millis(100) {
            ""
        } else {
            "  <-- OVER"
        }
    );

    for (label, sql) in [
        ("syncs list, first page", list_page_sql(0)),
        ("syncs list, page 100", list_page_sql(4950)),
        (
            "job history of one sync",
            format!(
                "SELECT id FROM secret_sync_jobs WHERE sync_id = '{some_sync}'
                  ORDER BY enqueued_at DESC, id LIMIT 50"
            ),
        ),
        (
            "jobs per minute, last hour",
            "SELECT floor(extract(epoch FROM now() - m) / 60)::int8, status, n
               FROM (SELECT date_trunc('minute', j.finished_at) AS m, j.status, count(*) AS n
                       FROM secret_sync_jobs j
                      WHERE j.finished_at > date_trunc('minute', now()) - interval '59 minutes'
                        AND j.project_id = ANY('{proj}')
                      GROUP BY 1, 2) per_minute"
                .to_string(),
        ),
    ] {
        println!("\nEXPLAIN ANALYZE: {label}");
        for row in db
            .query(&format!("EXPLAIN (ANALYZE, COSTS OFF) {sql}"), &[])
            .await
            .expect("explain")
        {
            println!("  {}", row.get::<_, String>(0));
        }
    }
    env.finish().await;
}

/// Requests `path` RUNS times, prints its median, p95 and max; the median.
async fn time_page(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    label: &str,
    path: &str,
) -> Duration {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let res = http
            .get(format!("{base}{path}"))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.bytes().await.expect("body");
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "{label:<44} {:>9} {:>9} {:>9}",
        ms(times[RUNS / 2]),
        ms(times[RUNS * 95 / 100]),
        ms(times[RUNS - 1])
    );
    times[RUNS / 2]
}

/// The syncs list's query as the dashboard sends it for the bench's
/// project, at one offset.
fn list_page_sql(offset: usize) -> String {
    format!(
        "SELECT s.id, s.name, e.slug, f.path, c.name, s.last_failed_at, count(*) OVER ()
           FROM secret_syncs s
           LEFT JOIN secret_folders f ON f.id = s.folder_id
           LEFT JOIN environments e ON e.id = f.environment_id
           LEFT JOIN app_connections c ON c.id = s.connection_id
          WHERE s.project_id = ANY('{{proj}}')
          ORDER BY s.sync_status IS DISTINCT FROM 'failed', s.last_failed_at DESC NULLS LAST, s.name, s.id
          LIMIT 50 OFFSET {offset}"
    )
}
