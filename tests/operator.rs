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
        &[("AMQP_URL", "amqps://guest:guest@127.0.0.1:5671/%2f")],
        &["dead", "list"],
        &["no AMQP TLS support"],
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
