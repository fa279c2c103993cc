//! Holding Humanitec writes (issue 41, must-show 1): a connection paused
//! while 50 of its syncs are queued and 10 running. The running ones end
//! the request they have in flight and write nothing more, nothing is
//! written while paused (the sandbox's log), the jobs wait as `paused`
//! and coalesce, previews still work, another connection keeps syncing;
//! after the resume every sync runs exactly once, with the latest source.
//! The same for the whole instance with an admin token; a project's token
//! can pause neither the instance nor another project's connection.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use humanitec_sandbox::{Faults, RequestRecord};
use reqwest::StatusCode;
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::{json, Value};
use uuid::Uuid;

const RUNNING: usize = 10;
const QUEUED: usize = 50;
const WAIT: Duration = Duration::from_secs(60);

/// A worker that runs 10 jobs at once, and one Humanitec write in flight
/// per connection (no adaptive window): the other running jobs wait for
/// a slot with their writes, as on a busy connection.
async fn env() -> TestEnv {
    TestEnv::with(|name| match name {
        "WORKER_CONCURRENCY" => Some(RUNNING.to_string()),
        "HUMANITEC_WRITE_CONCURRENCY" => Some("1".into()),
        "HUMANITEC_WRITE_ADAPTIVE" => Some("false".into()),
        "SYNC_DEBOUNCE" => Some("0ms".into()),
        "METRICS_REFRESH" => Some("500ms".into()),
        _ => None,
    })
    .await
}

fn app(i: usize) -> String {
    format!("held-{i}")
}

fn is_write(r: &RequestRecord) -> bool {
    r.method != "GET" && r.path.contains("/values")
}

/// The app a request is about (`/orgs/o/apps/<app>/...`).
fn app_of(r: &RequestRecord) -> Option<&str> {
    r.path.split('/').skip_while(|s| *s != "apps").nth(1)
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http.post(format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.expect("request");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// How many of the syncs' job rows have each status.
async fn job_statuses(env: &TestEnv, syncs: &[Uuid]) -> BTreeMap<String, i64> {
    let rows = env
        .sql()
        .await
        .query(
            "SELECT status, count(*) FROM secret_sync_jobs WHERE sync_id = ANY($1) GROUP BY 1",
            &[&syncs],
        )
        .await
        .expect("job rows");
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Syncs whose lease a run holds now.
async fn leased(env: &TestEnv, syncs: &[Uuid]) -> i64 {
    env.sql()
        .await
        .query_one(
            "SELECT count(*) FROM secret_syncs WHERE id = ANY($1) AND lease_token IS NOT NULL",
            &[&syncs],
        )
        .await
        .expect("leases")
        .get(0)
}

struct Held {
    syncs: Vec<Uuid>,
    folder: Uuid,
}

/// 60 syncs of one new connection, each to an app of its own, all reading
/// one folder of three keys; 60 jobs queued, 10 of them running (their
/// writes slowed by the sandbox's latency) when this returns.
async fn sixty_busy_syncs(env: &TestEnv) -> Held {
    let src = env
        .source("production", &[("A", "1"), ("B", "2"), ("C", "3")])
        .await;
    let mut syncs = Vec::new();
    for i in 0..RUNNING + QUEUED {
        env.add_humanitec_app(&app(i), &[]);
        syncs.push(
            env.sync(&src, &format!("held-{i}"), app_scope(&app(i)), options())
                .await,
        );
    }
    env.sandbox.clear_requests();
    env.sandbox.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    for &sync in &syncs {
        env.enqueue(sync).await;
    }
    // Ten runs hold their sync, and the first write is on its way.
    eventually(WAIT, || async {
        let (running, writes) = (
            leased(env, &syncs).await,
            env.sandbox
                .requests()
                .iter()
                .filter(|r| is_write(r))
                .count(),
        );
        (running == RUNNING as i64 && writes >= 1)
            .then_some(())
            .ok_or(format!("{running} running, {writes} write(s) sent"))
    })
    .await;
    Held {
        syncs,
        folder: src.folder,
    }
}

/// Until the worker has heard of the pause (its gauge), then the time.
async fn heard(env: &TestEnv, scope: &str) -> DateTime<Utc> {
    let metrics = env.metrics.clone().expect("an in-process worker");
    eventually(WAIT, || async {
        let started = metrics
            .pause_started
            .get_or_create(&secret_sync::http::metrics::ScopeLabel {
                scope: if scope == "instance" {
                    "instance"
                } else {
                    "connection"
                },
            })
            .get();
        (started > 0.0).then_some(()).ok_or("not heard yet")
    })
    .await;
    Utc::now()
}

/// Everything after the pause took hold: no write of `held`'s apps after
/// `since`, every job parked and coalesced, previews, then the resume
/// (`resume`) and exactly one run per sync with the latest source.
async fn while_paused_then_resume<F, Fut>(
    env: &TestEnv,
    held: &Held,
    since: DateTime<Utc>,
    resume: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let apps: HashSet<String> = (0..held.syncs.len()).map(app).collect();
    // Every job waits as paused: the ten stopped runs and the fifty queued.
    let statuses = eventually(WAIT, || async {
        let s = job_statuses(env, &held.syncs).await;
        (s.get("paused") == Some(&(held.syncs.len() as i64)) && s.len() == 1)
            .then_some(s.clone())
            .ok_or(format!("{s:?}"))
    })
    .await;
    assert_eq!(
        statuses.len(),
        1,
        "nothing failed, retried away or skipped: {statuses:?}"
    );
    assert!(
        env.drain_dead_letters().await.is_empty(),
        "nothing dead-lettered"
    );
    // The runs that were writing ended their request and wrote no more.
    let writes: Vec<RequestRecord> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| is_write(r) && app_of(r).is_some_and(|a| apps.contains(a)))
        .collect();
    assert!(!writes.is_empty());
    for w in &writes {
        assert!(w.received_at <= since, "a write while paused: {w:?}");
        assert!(w.status < 300, "the write in flight ended well: {w:?}");
    }
    let written_before = writes.len();
    // They were mid-run: far from every key of the ten running syncs had
    // been written when the pause held the rest back.
    assert!(
        written_before < RUNNING * 3,
        "{written_before} writes before the pause"
    );
    // The source changes while paused; the change events fold into the
    // parked jobs (one waiting job per sync, no new row).
    env.put_secret(held.folder, "A", "latest").await;
    for &sync in &held.syncs {
        let job = env.enqueue(sync).await;
        let row = env
            .store
            .reads
            .job(job)
            .await
            .expect("row")
            .expect("the parked job");
        assert_eq!((row.sync_id, row.status), (sync, JobStatus::Paused));
    }
    assert_eq!(
        job_statuses(env, &held.syncs).await.get("paused"),
        Some(&(held.syncs.len() as i64))
    );
    // A preview still works (a listing, no write).
    let preview = env.preview(held.syncs[0], false).await;
    assert!(serde_json::to_string(&preview)
        .expect("json")
        .contains("\"A\""));
    let after: Vec<RequestRecord> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| is_write(r) && app_of(r).is_some_and(|a| apps.contains(a)))
        .collect();
    assert_eq!(
        after.len(),
        written_before,
        "no write while paused: {after:?}"
    );
    // The sync rows say why they wait, in the four statuses others know.
    let row = env.sync_row(held.syncs[RUNNING + 1]).await;
    assert_eq!(row.sync_status, Some(JobStatus::Pending), "{row:?}");
    assert!(
        row.last_sync_message
            .as_deref()
            .is_some_and(|m| m.starts_with("Paused")),
        "{row:?}"
    );

    env.sandbox.set_faults(Faults::default());
    env.sandbox.clear_requests();
    resume().await;
    // Every sync runs exactly once, with the latest source.
    eventually(WAIT, || async {
        let s = job_statuses(env, &held.syncs).await;
        (s.get("succeeded") == Some(&(held.syncs.len() as i64)))
            .then_some(())
            .ok_or(format!("{s:?}"))
    })
    .await;
    let statuses = job_statuses(env, &held.syncs).await;
    assert_eq!(
        statuses.len(),
        1,
        "one job per sync, each succeeded: {statuses:?}"
    );
    let log = env.sandbox.requests();
    for (i, &sync) in held.syncs.iter().enumerate() {
        let listings = log
            .iter()
            .filter(|r| r.method == "GET" && app_of(r) == Some(app(i).as_str()))
            .count();
        assert_eq!(listings, 1, "sync {i} ran once after the resume");
        let values = env.humanitec_values(&app(i), None);
        assert_eq!(
            values.get("A").map(String::as_str),
            Some("latest"),
            "sync {i}: {values:?}"
        );
        assert_eq!(values.len(), 3, "sync {i}: {values:?}");
        let row = env.sync_row(sync).await;
        assert_eq!(row.sync_status, Some(JobStatus::Succeeded), "{row:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_connection_writes_nothing_and_each_sync_runs_once_after_resume() {
    let mut env = env().await;
    let base = env.start_api().await;
    env.start_worker().await;
    let http = reqwest::Client::new();
    let writer = env.api_token(&["proj"], "write").await;
    // Another project, with a write token of its own.
    env.seed.create_project("other-proj", "Other").await;
    let stranger = env.api_token(&["other-proj"], "write").await;

    let held = sixty_busy_syncs(&env).await;
    let connection = env
        .store
        .syncs
        .load_sync(held.syncs[0])
        .await
        .expect("read")
        .expect("sync")
        .connection_id;
    let path = format!("/api/v1/app-connections/humanitec/{connection}");

    // Another project cannot pause it: answered as an unknown id.
    let reason = json!({"reason": "Humanitec incident INC-7"});
    let (status, foreign) = call(
        &http,
        &base,
        &stranger,
        &format!("{path}/pause"),
        Some(reason.clone()),
    )
    .await;
    let unknown = Uuid::new_v4();
    let (missing_status, missing) = call(
        &http,
        &base,
        &stranger,
        &format!("/api/v1/app-connections/humanitec/{unknown}/pause"),
        Some(reason.clone()),
    )
    .await;
    assert_eq!(
        (status, missing_status),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(
        foreign["message"]
            .as_str()
            .map(|m| m.replace(&connection.to_string(), "<id>")),
        missing["message"]
            .as_str()
            .map(|m| m.replace(&unknown.to_string(), "<id>")),
    );
    // Hostile reasons are refused.
    for bad in ["two\nlines", "nul\0", "bidi\u{202E}txt", ""] {
        let (status, body) = call(
            &http,
            &base,
            &writer,
            &format!("{path}/pause"),
            Some(json!({"reason": bad})),
        )
        .await;
        assert!(status.is_client_error(), "{bad:?}: {status} {body}");
    }

    let (status, body) = call(
        &http,
        &base,
        &writer,
        &format!("{path}/pause"),
        Some(reason),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["pause"]["scope"], "connection");
    assert!(
        body["pause"]["pausedBy"]
            .as_str()
            .is_some_and(|b| b.starts_with("test (token ")),
        "{body}"
    );
    let since = heard(&env, "connection").await;
    // Paused twice: refused, the first pause stands.
    let (status, _) = call(
        &http,
        &base,
        &writer,
        &format!("{path}/pause"),
        Some(json!({"reason": "again"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Listed for its project, not for another.
    let list = |token: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.get(format!("{base}/api/v1/pauses"))
                .bearer_auth(token)
                .send()
                .await
                .expect("list")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(
        list(writer.clone()).await["pauses"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(list(stranger.clone()).await["pauses"], json!([]));

    // A sync of another connection keeps running meanwhile.
    env.add_humanitec_app("free", &[]);
    let free_src = env.source("staging", &[("F", "1")]).await;
    let free = env
        .sync(&free_src, "free", app_scope("free"), options())
        .await;
    let started = tokio::time::Instant::now();
    let row = env.run_sync(free).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert!(started.elapsed() < WAIT);

    let resume = || async {
        // Neither a stranger nor the instance's resume lifts it.
        let (status, _) = call(&http, &base, &stranger, &format!("{path}/resume"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = call(&http, &base, &writer, &format!("{path}/resume"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    while_paused_then_resume(&env, &held, since, resume).await;
    assert_eq!(list(writer.clone()).await["pauses"], json!([]));

    // Audited: who paused and resumed, never the reason's text.
    let audit = env
        .store
        .audit
        .audit_log(&secret_sync::store::AuditFilter {
            action: Some("pause.start".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].project_id.as_deref(), Some("proj"));
    assert_eq!(audit[0].changes, vec!["reason"]);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_pauses_the_whole_instance_and_a_project_token_cannot() {
    let mut env = env().await;
    let base = env.start_api().await;
    env.start_worker().await;
    let http = reqwest::Client::new();
    let writer = env.api_token(&["proj"], "write").await;
    let admin = env.api_token(&[], "admin").await;
    let held = sixty_busy_syncs(&env).await;

    let reason = json!({"reason": "change freeze"});
    let (status, body) = call(
        &http,
        &base,
        &writer,
        "/api/v1/instance/pause",
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(&http, &base, &admin, "/api/v1/instance/pause", Some(reason)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["pause"]["scope"], "instance");
    let since = heard(&env, "instance").await;
    // A project's token sees the instance's pause that holds its syncs.
    let listed: Value = http
        .get(format!("{base}/api/v1/pauses"))
        .bearer_auth(&writer)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["pauses"][0]["scope"], "instance", "{listed}");

    let resume = || async {
        let (status, _) = call(&http, &base, &writer, "/api/v1/instance/resume", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = call(&http, &base, &admin, "/api/v1/instance/resume", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    while_paused_then_resume(&env, &held, since, resume).await;
    env.finish().await;
}

/// The command line pauses and resumes too, naming the operator.
#[tokio::test]
async fn the_command_line_pauses_lists_and_resumes_a_connection() {
    let env = TestEnv::new().await;
    let src = env.source("production", &[("A", "1")]).await;
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_secret-sync"))
            .args(args)
            .envs(env.product_env())
            .env_remove("RUST_LOG")
            .output()
            .expect("the binary runs")
    };
    let id = src.connection.to_string();
    let out = cli(&[
        "pause",
        "--connection",
        &id,
        "--reason",
        "INC-9 <b>",
        "--by",
        "alice",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["pauses"]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.contains(&id) && listed.contains("cli (alice)") && listed.contains("INC-9 <b>"),
        "{listed}"
    );
    let out = cli(&["pause", "--instance", "--reason", "two\nlines"]);
    assert!(!out.status.success(), "a reason of two lines is refused");
    let out = cli(&["resume", "--connection", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["pauses"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing is paused"));
    env.finish().await;
}

/// Submits the form at `css` as its button would.
async fn submit(b: &crate::dashboard::Browser, css: &str) {
    b.js(
        "const f = document.querySelector(arguments[0]); f.requestSubmit(); return true;",
        vec![json!(css)],
    )
    .await;
}

/// The console: pause a connection from its page (a reason with markup,
/// shown as text), the banner on the connection, its sync and the
/// overview; resume; an admin pauses the instance from the overview.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_pauses_and_shows_a_banner_on_every_affected_page() {
    use crate::dashboard::Browser;
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let writer = env.api_token(&["proj"], "write").await;
    let admin = env.api_token(&[], "admin").await;
    let src = env.source("production", &[("K", "v")]).await;
    let sync = env
        .sync(&src, "held-sync", app_scope("web"), options())
        .await;
    let connection = src.connection;

    let b = Browser::start(&base).await;
    b.sign_in(&writer).await;
    b.goto(&format!("/syncs/{sync}")).await;
    assert_eq!(b.text("#pause-banner").await, "", "nothing is paused yet");
    let href = b.attrs("#connection-link", "href").await;
    assert_eq!(href, vec![format!("/connections/{connection}")]);
    b.goto(&href[0]).await;
    let reason = "INC-42 <b>freeze</b> & co";
    b.js(
        "document.querySelector('#pause-reason').value = arguments[0]; return true;",
        vec![json!(reason)],
    )
    .await;
    submit(&b, "#pause-control form.pause").await;
    eventually(WAIT, || async {
        let banner = b.text("#pause-banner").await;
        banner
            .contains(reason)
            .then_some(banner.clone())
            .ok_or(banner)
    })
    .await;
    let html = b
        .js("return document.documentElement.outerHTML;", vec![])
        .await;
    let html = html.as_str().unwrap_or_default();
    assert!(!html.contains("<b>freeze</b>"), "the reason is escaped");
    assert!(b.text("#pause-banner").await.contains("test (token "));
    b.screenshot("connection-paused").await;
    b.assert_no_console_errors("the paused connection's page")
        .await;
    b.assert_accessible("the paused connection's page").await;
    for page in [format!("/syncs/{sync}"), "/overview".to_string()] {
        b.goto(&page).await;
        let banner = b.text("#pause-banner").await;
        assert!(
            banner.contains("Humanitec writes are paused") && banner.contains(reason),
            "{page}: {banner}"
        );
        b.screenshot(if page == "/overview" {
            "overview-paused"
        } else {
            "sync-paused"
        })
        .await;
        b.assert_accessible(&page).await;
    }
    b.goto(&href[0]).await;
    submit(&b, "#pause-control form.pause").await;
    eventually(WAIT, || async {
        let banner = b.text("#pause-banner").await;
        banner.is_empty().then_some(()).ok_or(banner)
    })
    .await;
    b.finish().await;

    // An admin holds the whole instance from the overview.
    let b = Browser::start(&base).await;
    b.sign_in(&admin).await;
    b.goto("/overview").await;
    b.js(
        "document.querySelector('#pause-reason').value = 'change freeze'; return true;",
        vec![],
    )
    .await;
    submit(&b, "#instance-pause form.pause").await;
    eventually(WAIT, || async {
        let banner = b.text("#pause-banner").await;
        banner
            .contains("The whole instance")
            .then_some(())
            .ok_or(banner)
    })
    .await;
    b.screenshot("instance-paused").await;
    b.assert_accessible("the overview, paused").await;
    submit(&b, "#instance-pause form.pause").await;
    eventually(WAIT, || async {
        let banner = b.text("#pause-banner").await;
        banner.is_empty().then_some(()).ok_or(banner)
    })
    .await;
    b.finish().await;
    env.finish().await;
}

/// Two jobs of one sync waiting (a run the pause stopped, and a request
/// queued after it lost the marker): the resume runs one, the one holding
/// the marker, and records the other skipped, naming it.
#[tokio::test]
async fn a_resume_runs_one_job_per_sync_and_folds_the_others_into_it() {
    let mut env = TestEnv::with(|name| (name == "SYNC_DEBOUNCE").then(|| "0ms".into())).await;
    env.start_worker().await;
    let (src, sync) = env.one_sync().await;
    let by = secret_sync::service::pauses::PauseActor {
        actor: secret_sync::model::Actor::Cli,
        label: "cli (test)".into(),
        req_id: None,
    };
    let scope = secret_sync::service::pauses::PauseScope::Connection {
        id: src.connection,
        project_id: src.project.clone(),
    };
    secret_sync::service::pauses::pause(&env.store, &scope, "freeze", &by)
        .await
        .expect("paused");
    let paused = |job| env.wait_job_until(job, WAIT, |r| r.status == JobStatus::Paused);
    let first = env.enqueue(sync).await;
    paused(first).await;
    // As a run stopped mid-way leaves it, had a request taken its place:
    // the first job no longer holds the marker, a second one does.
    env.store
        .ledger
        .drop_queued_marker(sync, first)
        .await
        .expect("marker");
    let second = env.enqueue(sync).await;
    assert_ne!(first, second);
    paused(second).await;
    assert_eq!(env.enqueue(sync).await, second, "later requests fold in");
    env.put_secret(src.folder, "A", "2").await;
    secret_sync::service::pauses::resume(&env.store, &scope, &by)
        .await
        .expect("resumed");
    let ran = env.wait_job(second).await;
    assert_eq!(ran.status, JobStatus::Succeeded, "{:?}", ran.message);
    let folded = env.wait_job(first).await;
    assert_eq!(folded.status, JobStatus::Skipped);
    assert!(
        folded
            .message
            .as_deref()
            .is_some_and(|m| m.contains(&second.to_string())),
        "{:?}",
        folded.message
    );
    assert_eq!(
        env.humanitec_values("api", None)
            .get("A")
            .map(String::as_str),
        Some("2")
    );
    env.finish().await;
}
