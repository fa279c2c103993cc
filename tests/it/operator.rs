//! What an operator runs by hand or from cron: `status` exit codes, the
//! dead-letter commands, and start-up errors that say what to do.

use std::process::{Command, Output};
use std::time::Duration;

use secret_sync::JobStatus;
use secret_sync_testkit::*;
use uuid::Uuid;

/// Runs the real `secret-sync` binary with `env`'s configuration plus `vars`.
fn cli(env: Option<&TestEnv>, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secret-sync"));
    cmd.args(args).env_remove("RUST_LOG");
    if let Some(env) = env {
        cmd.envs(env.product_env());
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("the secret-sync binary runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn status_exits_2_while_a_sync_is_failed_and_names_it() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env.source("production", &[("A", "1")]).await;
    let good = env
        .sync(&src, "good-sync", app_scope("api"), options())
        .await;
    assert_eq!(env.run_sync(good).await.status, JobStatus::Succeeded);

    let out = cli(Some(&env), &[], &["status"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 sync(s), 0 failed"), "{stdout}");

    let bad_src = env
        .source_with_token("production", &[("B", "2")], "not-a-valid-token")
        .await;
    let bad = env
        .sync(&bad_src, "bad-token-sync", app_scope("api"), options())
        .await;
    assert_eq!(env.run_sync(bad).await.status, JobStatus::Failed);
    let out = cli(Some(&env), &[], &["status"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 sync(s), 1 failed (exit code 2)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 sync(s) failed: bad-token-sync") && stderr.contains(&bad.to_string()),
        "{stderr}"
    );
    // Scoped to the good sync, nothing is failed.
    let out = cli(Some(&env), &[], &["status", "--sync", &good.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // JSON output carries the count too.
    let out = cli(Some(&env), &[], &["status", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["failedSyncs"], 1);
    env.finish().await;
}

/// What `dead list --json` shows.
fn dead_list(env: &TestEnv) -> Vec<serde_json::Value> {
    let out = cli(Some(env), &[], &["dead", "list", "--json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice(&out.stdout).expect("json list")
}

async fn wait_dead_count(env: &TestEnv, n: usize) -> Vec<serde_json::Value> {
    eventually(Duration::from_secs(15), || async {
        let list = dead_list(env);
        if list.len() == n {
            return Ok(list);
        }
        Err(format!("expected {n} dead letters, have {list:?}"))
    })
    .await
}

#[tokio::test]
async fn dead_letters_are_listed_requeued_and_discarded_without_loss() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let (src, sync) = env.one_sync().await;

    // A poison message, dead-lettered by the worker; then a valid job.
    env.publish_raw("sync", b"not json\x1b[2J").await;
    let list = wait_dead_count(&env, 1).await;
    assert!(
        list[0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("not JSON"),
        "{list:?}"
    );
    assert_eq!(list[0]["source"], env.names.jobs_queue().as_str());
    assert_eq!(list[0]["body_preview"], "not json\\u{1b}[2J", "escaped");
    let job = env.publish_dead_job(sync).await;
    let list = wait_dead_count(&env, 2).await;
    assert_eq!(list[1]["message_id"], job.to_string().as_str());
    assert_eq!(list[1]["routing_key"], "sync");
    assert_eq!(list[1]["reason"], "worker crashed 10 times");
    assert_eq!(list[1]["position"], 2);
    let out = cli(Some(&env), &[], &["dead", "list"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains(&format!("#2  message id {job}  routing key `sync`")),
        "{stdout}"
    );
    assert!(
        stdout.contains("reason: worker crashed 10 times"),
        "{stdout}"
    );

    // Requeue one by message id: it runs and succeeds; the poison stays.
    let out = cli(Some(&env), &[], &["dead", "requeue", &job.to_string()]);
    assert!(text(&out).0.contains("requeued 1"), "{:?}", text(&out));
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(env.sandbox.values(ORG, "api", None)[0].value, "1");
    let list = wait_dead_count(&env, 1).await;
    assert!(list[0]["reason"]
        .as_str()
        .unwrap_or("")
        .contains("not JSON"));

    // Requeue all: the job runs; the poison is dead-lettered again, once.
    env.put_secret(src.folder, "A", "2").await;
    let job2 = env.publish_dead_job(sync).await;
    wait_dead_count(&env, 2).await;
    let out = cli(Some(&env), &[], &["dead", "requeue", "all"]);
    assert!(text(&out).0.contains("requeued 2"), "{:?}", text(&out));
    assert_eq!(env.wait_job(job2).await.status, JobStatus::Succeeded);
    assert_eq!(env.sandbox.values(ORG, "api", None)[0].value, "2");
    wait_dead_count(&env, 1).await;

    // A position that does not exist: a clear error, nothing touched.
    let out = cli(Some(&env), &[], &["dead", "requeue", "5"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("no dead letter at position 5 (the dead-letter queue holds 1)"),
        "{stderr}"
    );
    // The command handed its peeked letter back; the broker shows it again
    // a moment later (a quorum queue applies the return asynchronously).
    assert_eq!(wait_dead_count(&env, 1).await.len(), 1);

    // Discard by position.
    let out = cli(Some(&env), &[], &["dead", "discard", "1"]);
    assert!(text(&out).0.contains("discarded 1"), "{:?}", text(&out));
    assert!(dead_list(&env).is_empty());
    let out = cli(Some(&env), &[], &["dead", "list"]);
    assert!(text(&out).0.contains("the dead-letter queue is empty"));
    env.finish().await;
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
    // dropped here: nothing listens on it any more
}

/// Runs `args` with only `vars` configured; returns stderr after checking
/// the exit code is 1 and that it names every `needle`.
fn fails_with(vars: &[(&str, &str)], args: &[&str], needles: &[&str]) -> String {
    let out = cli(None, vars, args);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} {vars:?}: {stdout}{stderr}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "missing `{needle}` in: {stderr}");
    }
    println!("{args:?}: {}", stderr.trim());
    stderr
}

#[tokio::test]
async fn postgres_start_up_errors_name_the_server_the_cause_and_the_fix() {
    let missing = format!("missing_{}", Uuid::new_v4().simple());
    let url = format!("postgres://postgres@127.0.0.1:5432/{missing}");
    fails_with(
        &[("DATABASE_URL", &url)],
        &["status"],
        &[
            &format!("database \"{missing}\" on 127.0.0.1:5432"),
            "does not exist (SQLSTATE 3D000)",
            "run `secret-sync migrate`",
        ],
    );

    // The database exists but was never migrated.
    let empty = format!(
        "postgres://postgres@127.0.0.1:5432/empty_{}",
        Uuid::new_v4().simple()
    );
    recreate_database(&empty).await.expect("create");
    fails_with(
        &[("DATABASE_URL", &empty)],
        &["status"],
        &["SQLSTATE 42P01", "run `secret-sync migrate`"],
    );
    drop_database(&empty).await.expect("drop");

    let port = closed_port();
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{port}/secret_sync");
    let stderr = fails_with(
        &[("DATABASE_URL", &url)],
        &["status"],
        &[
            &format!("on 127.0.0.1:{port}"),
            "connection refused",
            "start Postgres",
        ],
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");

    fails_with(
        &[(
            "DATABASE_URL",
            "postgres://postgres@no-such-host.invalid:5432/secret_sync",
        )],
        &["status"],
        &["unknown host", "fix the host name in DATABASE_URL"],
    );

    let stderr = fails_with(
        &[(
            "DATABASE_URL",
            "postgres://no_such_role:hunter2@127.0.0.1:5432/postgres",
        )],
        &["status"],
        &[
            "role \"no_such_role\" does not exist (SQLSTATE 28000)",
            "check that the user in DATABASE_URL exists",
        ],
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");

    // A wrong password for a real role: only provokable where pg_hba asks
    // for passwords (this machine's local Postgres trusts 127.0.0.1).
    let (admin, conn) = tokio_postgres::connect(
        "postgres://postgres@127.0.0.1:5432/postgres",
        tokio_postgres::NoTls,
    )
    .await
    .expect("admin");
    tokio::spawn(conn);
    let role = format!("pw_test_{}", Uuid::new_v4().simple());
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'right-password'"
        ))
        .await
        .expect("role");
    let url = format!("postgres://{role}:wrong-password@127.0.0.1:5432/postgres");
    let out = cli(None, &[("DATABASE_URL", &url)], &["status"]);
    let (_, stderr) = text(&out);
    assert!(
        !stderr.contains("wrong-password"),
        "password leaked: {stderr}"
    );
    if stderr.contains("SQLSTATE 28P01") {
        assert!(
            stderr.contains("check the user and password in DATABASE_URL"),
            "{stderr}"
        );
    } else {
        println!("pg_hba.conf trusts 127.0.0.1 here: a wrong password is accepted, so 28P01 is not provoked");
    }
    let _ = admin.batch_execute(&format!("DROP ROLE {role}")).await;
}

#[tokio::test]
async fn rabbitmq_start_up_errors_name_the_broker_the_cause_and_the_fix() {
    let port = closed_port();
    let url = format!("amqp://guest:hunter2@127.0.0.1:{port}/%2f");
    let stderr = fails_with(
        &[("AMQP_URL", &url)],
        &["dead", "list"],
        &[
            &format!(
                "cannot connect to RabbitMQ (vhost \"/\" on 127.0.0.1:{port} as user \"guest\")"
            ),
            "connection refused",
            "start RabbitMQ",
        ],
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");

    let stderr = fails_with(
        &[("AMQP_URL", "amqp://guest:wrong-secret@127.0.0.1:5672/%2f")],
        &["dead", "list"],
        &[
            "authentication failed",
            "check the user and password in AMQP_URL",
        ],
    );
    assert!(
        !stderr.contains("wrong-secret"),
        "password leaked: {stderr}"
    );

    fails_with(
        &[(
            "AMQP_URL",
            "amqp://guest:guest@127.0.0.1:5672/no-such-vhost",
        )],
        &["dead", "list"],
        &["vhost \"no-such-vhost\"", "rabbitmqctl add_vhost"],
    );
    fails_with(
        &[(
            "AMQP_URL",
            "amqp://guest:guest@no-such-host.invalid:5672/%2f",
        )],
        &["dead", "list"],
        &["unknown host", "fix the host name in AMQP_URL"],
    );
    fails_with(
        &[("AMQP_URL", "amqps://guest:guest@127.0.0.1:5672/%2f")],
        &["dead", "list"],
        &[
            "the port does not speak TLS",
            "TLS listener (usually port 5671)",
        ],
    );
}

#[tokio::test]
async fn an_unreachable_humanitec_is_named_in_the_job_message_with_the_fix() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut env = TestEnv::with(|name| match name {
        "HUMANITEC_API_URL" => Some(url.clone()),
        "JOB_MAX_ATTEMPTS" => Some("1".into()),
        "HTTP_RETRIES" => Some("0".into()),
        _ => None,
    })
    .await;
    env.start_worker().await;
    let (_, sync) = env.one_sync().await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Failed);
    let message = row.message.unwrap_or_default();
    println!("{message}");
    for needle in [
        format!("cannot connect to http://127.0.0.1:{port}"),
        "connection refused".to_string(),
        "check HUMANITEC_API_URL".to_string(),
    ] {
        assert!(
            message.contains(&needle),
            "missing `{needle}` in: {message}"
        );
    }
    env.finish().await;
}

/// Ready messages in `queue`, as the broker counts them.
async fn ready(env: &TestEnv, queue: &str) -> u32 {
    let url = secret_sync::queue::split_urls(&env.settings.amqp_url)
        .into_iter()
        .next()
        .expect("AMQP_URL");
    let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let declared = ch
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("the queue exists");
    let _ = conn.close(200, "ok".into()).await;
    declared.message_count()
}

/// Waits until `queue` holds `n` ready messages.
async fn wait_ready(env: &TestEnv, queue: &str, n: u32) {
    eventually(Duration::from_secs(10), || async {
        match ready(env, queue).await {
            got if got == n => Ok(()),
            got => Err(format!("{queue} holds {got}, not {n}")),
        }
    })
    .await
}

/// `secret-sync api` as its own process (its sockets can be counted).
async fn api_process(env: &TestEnv, name: &str, extra: &[(&str, String)]) -> WorkerProcess {
    let log = std::env::temp_dir().join(format!("operator-{name}-{}.log", Uuid::new_v4()));
    let api = WorkerProcess::spawn_with(
        env!("CARGO_BIN_EXE_secret-sync"),
        &["api"],
        &env.settings,
        extra,
        &log,
    );
    api.wait_status("/healthz", 200, Duration::from_secs(30))
        .await;
    api
}

/// A dashboard user: a client that does not follow redirects, signed in.
struct Dashboard {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Dashboard {
    async fn sign_in(api: &WorkerProcess, token: &str) -> Dashboard {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let base = format!("http://{}", api.http);
        let cookie = dashboard_sign_in(&http, &base, token).await;
        Dashboard { http, base, cookie }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// Posts a dead-letter form; the status and where it redirects.
    async fn post(&self, path: &str, csrf: &str, which: &str) -> (u16, String) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&[("csrf", csrf), ("which", which)])
            .send()
            .await
            .expect("answer");
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (resp.status().as_u16(), location)
    }
}

#[tokio::test]
async fn requeue_all_on_more_dead_letters_than_a_page_works_in_pages() {
    const LETTERS: usize = 25;
    // No worker: requeued jobs wait in the jobs queue, where they are counted.
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let (dead_queue, jobs_queue) = (env.names.dead_queue(), env.names.jobs_queue());
    let jobs_before = ready(&env, &jobs_queue).await;

    // The command line: one `requeue all`, read and settled 10 at a time.
    for _ in 0..LETTERS {
        env.publish_dead_job(sync).await;
    }
    wait_dead_count(&env, LETTERS).await;
    let out = cli(
        Some(&env),
        &[("DEAD_LETTER_PAGE_SIZE", "10")],
        &["dead", "requeue", "all"],
    );
    let (stdout, stderr) = text(&out);
    println!("{stdout}");
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("requeued 25 dead letter(s) in 3 pages of at most 10"),
        "{stdout}"
    );
    wait_ready(&env, &dead_queue, 0).await;
    wait_ready(&env, &jobs_queue, jobs_before + LETTERS as u32).await;

    // The dashboard: each "requeue all" settles one page of 10; the rest
    // stays, there for any reader at once.
    for _ in 0..LETTERS {
        env.publish_dead_job(sync).await;
    }
    wait_dead_count(&env, LETTERS).await;
    let api = api_process(&env, "pages", &[("DEAD_LETTER_PAGE_SIZE", "10".into())]).await;
    let admin = env.api_token(&[], "admin").await;
    let user = Dashboard::sign_in(&api, &admin).await;
    let (_, page) = user.get("/dead").await;
    let csrf = csrf_token(&page);
    for (step, (n, more, left)) in [(10, true, 15), (10, true, 5), (5, false, 0)]
        .into_iter()
        .enumerate()
    {
        let (status, location) = user.post("/dead/requeue", &csrf, "all").await;
        let expected = format!(
            "/dead?done=requeued&n={n}{}",
            if more { "&more=1" } else { "" }
        );
        println!("requeue all #{}: {status} {location}", step + 1);
        assert_eq!(status, 303);
        assert!(location.ends_with(&expected), "{location}");
        // No waiting: another process lists what is left right away.
        assert_eq!(
            dead_list(&env).len(),
            left,
            "after requeue all #{}",
            step + 1
        );
    }
    wait_ready(&env, &jobs_queue, jobs_before + 2 * LETTERS as u32).await;
    let (_, page) = user.get("/dead?done=requeued&n=10&more=1").await;
    assert!(
        page.contains("requeued 10 message(s). More remain"),
        "{page}"
    );
    api.remove_log();
    env.finish().await;
}

/// Issue 36: a dead-letter action is audited once per project whose
/// letters it settled, with that project's count, never under the other
/// projects of the token.
#[tokio::test]
async fn a_dead_letter_action_is_audited_only_where_its_letters_belong() {
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    env.seed.create_project("quiet", "Quiet").await;
    for _ in 0..2 {
        env.publish_dead_job(sync).await;
    }
    wait_dead_count(&env, 2).await;
    let api = api_process(&env, "audit", &[]).await;
    let both = env.api_token(&["proj", "quiet"], "write").await;
    let user = Dashboard::sign_in(&api, &both).await;
    let (_, page) = user.get("/dead").await;
    let csrf = csrf_token(&page);
    let (status, location) = user.post("/dead/requeue", &csrf, "all").await;
    assert_eq!(status, 303);
    assert!(location.ends_with("/dead?done=requeued&n=2"), "{location}");
    let rows = env
        .sql()
        .await
        .query(
            "SELECT project_id, changes::text FROM audit_log
              WHERE action = 'dead-letter.requeue' ORDER BY project_id",
            &[],
        )
        .await
        .expect("audit rows");
    let got: Vec<(Option<String>, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got.len(), 1, "one entry, for the letters' project: {got:?}");
    assert_eq!(got[0].0.as_deref(), Some("proj"));
    assert!(got[0].1.contains("2 message(s)"), "{got:?}");
    api.remove_log();
    env.finish().await;
}

/// Local ports of `pid`'s established TCP connections to `port`.
fn connections_to(pid: u32, port: u16) -> std::collections::BTreeSet<String> {
    let sockets: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|link| {
                    let link = link.to_string_lossy().into_owned();
                    Some(
                        link.strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found = std::collections::BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some(state), Some(inode)) =
                (fields.get(1), fields.get(2), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let remote_port = remote
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if remote_port == Some(port) && *state == "01" && sockets.contains(*inode) {
                found.insert((*local).to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn looking_at_dead_letters_holds_none_past_the_request_on_the_process_connection() {
    const LETTERS: usize = 30;
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let mut ids = Vec::new();
    for _ in 0..LETTERS {
        ids.push(env.publish_dead_job(sync).await);
    }
    wait_dead_count(&env, LETTERS).await;
    let broker_port: u16 = secret_sync::queue::node_label(&env.settings.amqp_url)
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the broker's port");
    let api = api_process(
        &env,
        "dead-view",
        &[("RATE_LIMIT_DEAD_LETTERS", "1/s,8".into())],
    )
    .await;
    let pid = api.pid().expect("the API runs");
    let admin = env.api_token(&[], "admin").await;
    let user = Dashboard::sign_in(&api, &admin).await;
    let before = connections_to(pid, broker_port);

    let (status, page) = user.get("/dead").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("{LETTERS} shown")), "{page}");
    assert!(ids.iter().all(|id| page.contains(&id.to_string())));
    // Handed back before the page was answered: a second viewer (another
    // process, its own connection) and the broker's count see all of them
    // at once, without waiting.
    assert_eq!(dead_list(&env).len(), LETTERS, "the second viewer sees all");
    assert_eq!(ready(&env, &env.names.dead_queue()).await, LETTERS as u32);
    let shared = connections_to(pid, broker_port);
    println!("broker connections of the API: {before:?} before /dead, {shared:?} after");
    // The API's one broker connection (opened at its start) serves the
    // dead letters too: no connection of their own.
    assert_eq!(
        before.len(),
        1,
        "the API process holds one broker connection"
    );
    assert_eq!(
        shared, before,
        "the dead letters use the process's connection"
    );

    // Two viewers at once take turns on that connection: neither finds
    // letters hidden by the other; no new connection is opened.
    let (one, two) = tokio::join!(user.get("/dead"), user.get("/dead"));
    for (status, page) in [one, two] {
        assert_eq!(status, 200);
        assert!(page.contains(&format!("{LETTERS} shown")), "{page}");
    }
    for _ in 0..3 {
        assert_eq!(user.get("/dead").await.0, 200);
    }
    assert_eq!(
        connections_to(pid, broker_port),
        shared,
        "the same connection"
    );
    assert_eq!(dead_list(&env).len(), LETTERS);

    // Rate-limited per token (1/s, burst 8): a quick run of looks gets a 429.
    let mut refused = None;
    for _ in 0..10 {
        let resp = user
            .http
            .get(format!("{}/dead", user.base))
            .header("cookie", &user.cookie)
            .send()
            .await
            .expect("answer");
        if resp.status().as_u16() == 429 {
            refused = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            break;
        }
    }
    println!("refused with Retry-After {refused:?}");
    assert!(refused.is_some_and(|s| s >= 1), "no 429 with Retry-After");
    assert_eq!(dead_list(&env).len(), LETTERS, "nothing lost");
    api.remove_log();
    env.finish().await;
}

#[tokio::test]
async fn the_dead_letter_flash_shows_fixed_text_never_the_url() {
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let api = api_process(&env, "flash", &[]).await;
    let admin = env.api_token(&[], "admin").await;
    let user = Dashboard::sign_in(&api, &admin).await;
    let marker = "INJECTED-7f3a";
    for (query, shown) in [
        ("done=requeued&n=3", Some("requeued 3 message(s).")),
        ("done=discarded&n=1", Some("discarded 1 message(s).")),
        (&*format!("done={marker}&n=3"), None),
        (&*format!("done=requeued&n=3%20{marker}"), None),
        (&*format!("done=requeued&n={marker}"), None),
        (&*format!("done=requeued%20{marker}&n=3"), None),
        (
            &*format!("done=requeued&n=1&more={marker}"),
            Some("requeued 1 message(s)."),
        ),
    ] {
        let (status, page) = user.get(&format!("/dead?{query}")).await;
        assert_eq!(status, 200, "{query}");
        assert!(!page.contains(marker), "/dead?{query} reflects the URL");
        match shown {
            Some(text) => assert!(page.contains(text), "/dead?{query}: {page}"),
            None => assert!(!page.contains("id=\"flash\""), "/dead?{query}: {page}"),
        }
    }
    // A sync's page shows a queued job's id only if it is one.
    for (query, shown) in [
        (format!("queued={sync}"), true),
        (format!("queued={marker}"), false),
        (format!("queued=%3Cb%3E{marker}"), false),
    ] {
        let (status, page) = user.get(&format!("/syncs/{sync}?{query}")).await;
        assert_eq!(status, 200, "{query}");
        assert!(!page.contains(marker), "?{query} reflects the URL");
        assert_eq!(
            page.contains(&format!("Job <code>{sync}</code> queued.")),
            shown,
            "?{query}"
        );
    }
    api.remove_log();
    env.finish().await;
}
