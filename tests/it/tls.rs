//! TLS to Postgres and RabbitMQ, against servers this test starts beside
//! the machine's own (`scripts/tls-servers`: a CA and a certificate for
//! `localhost` made per test, Postgres that rejects plain connections, a
//! RabbitMQ node that only listens for AMQPS). The product's commands run
//! as the real binary, configured as an operator would: `sslmode` and
//! `sslrootcert` in DATABASE_URL, `amqps://` and `AMQP_CA_FILE`.

use std::process::Output;
use std::time::Duration;

use secret_sync::JobStatus;
use secret_sync_testkit::*;
use uuid::Uuid;

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");

/// Runs `secret-sync args...` with only `vars` (and PATH) set.
fn command(vars: &[(&str, String)], args: &[&str]) -> Output {
    std::process::Command::new(EXE)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("secret-sync runs")
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether database `name` exists on the server `admin_url` points at.
async fn database_exists(admin_url: &str, name: &str) -> bool {
    let client = connect_database(admin_url).await;
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("pg_database");
    row.get::<_, i64>(0) == 1
}

fn pg_url(host: &str, port: u16, db: &str, query: &str) -> String {
    format!("postgres://postgres@{host}:{port}/{db}?{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_serves_migrate_run_and_api_and_every_connection_is_encrypted() {
    let mut servers = TlsServers::certificates().await;
    let port = servers.start_postgres(true).await;
    let verify = format!("sslmode=verify-full&sslrootcert={}", servers.ca());

    // `migrate` creates the database and its schema over verified TLS.
    let migrated = format!("migrated_{}", Uuid::new_v4().simple());
    let out = command(
        &[(
            "DATABASE_URL",
            pg_url("localhost", port, &migrated, &verify),
        )],
        &["migrate"],
    );
    assert!(out.status.success(), "migrate: {}", stderr_of(&out));
    let client = connect_database(&pg_url("localhost", port, &migrated, &verify)).await;
    let row = client
        .query_one(
            "SELECT (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()),
                    (SELECT count(*) FROM secret_sync_schema_migrations)",
            &[],
        )
        .await
        .expect("the migrated schema");
    assert!(row.get::<_, bool>(0), "this very connection is TLS");
    assert!(row.get::<_, i64>(1) > 0, "migrations recorded");

    // The harness on that server; `run` and `api` as processes.
    let id = Uuid::new_v4().simple().to_string();
    let url = pg_url("localhost", port, &format!("test_{id}"), &verify);
    let env = TestEnv::named(&url, &format!("test-{id}."), |_| None).await;
    let (_src, sync) = env.one_sync().await;
    let log = std::env::temp_dir().join(format!("tls-run-{id}.log"));
    let worker = WorkerProcess::spawn(EXE, &env.settings, &[], &log);
    worker.wait_ready_status(200, Duration::from_secs(60)).await;
    let job = env.enqueue(sync).await;
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert!(
        !env.humanitec_values("api", None).is_empty(),
        "the worker pushed the source to the sandbox"
    );

    let api_log = std::env::temp_dir().join(format!("tls-api-{id}.log"));
    let api = WorkerProcess::spawn_with(EXE, &["api"], &env.settings, &[], &api_log);
    api.wait_ready_status(200, Duration::from_secs(60)).await;
    let (status, body) = http_get(api.health, "/readyz").await.expect("readyz");
    assert_eq!(status, 200, "{body}");

    // Every connection the product holds to this server is encrypted (the
    // server also rejects plain ones: pg_hba's hostnossl reject).
    let sql = env.sql().await;
    let rows = sql
        .query(
            "SELECT a.application_name, s.ssl FROM pg_stat_activity a
               JOIN pg_stat_ssl s USING (pid)
              WHERE a.backend_type = 'client backend' AND a.application_name LIKE 'secret-sync%'",
            &[],
        )
        .await
        .expect("pg_stat_ssl");
    assert!(!rows.is_empty(), "the worker and the API are connected");
    for r in &rows {
        assert!(
            r.get::<_, bool>(1),
            "{} connects without TLS",
            r.get::<_, String>(0)
        );
    }
    // Stopped before the queues go: a worker still running would declare
    // them again when it sees them deleted.
    let (mut worker, mut api) = (worker, api);
    worker.terminate(Duration::from_secs(30)).await;
    api.terminate(Duration::from_secs(30)).await;
    worker.remove_log();
    api.remove_log();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_a_wrong_host_or_a_server_without_tls_fail_before_anything_changes() {
    let mut servers = TlsServers::certificates().await;
    let port = servers.start_postgres(true).await;
    let plain = servers.start_postgres(false).await;
    let admin = pg_url(
        "localhost",
        port,
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={}", servers.ca()),
    );
    let cases = [
        (
            "a CA that did not sign the server's certificate",
            pg_url(
                "localhost",
                port,
                "wrong_ca",
                &format!("sslmode=verify-full&sslrootcert={}", servers.other_ca()),
            ),
            vec![
                "not signed by a trusted certificate authority",
                "sslrootcert",
            ],
        ),
        (
            "a host name the certificate does not give",
            pg_url(
                "127.0.0.1",
                port,
                "wrong_host",
                &format!("sslmode=verify-full&sslrootcert={}", servers.ca()),
            ),
            vec!["does not name the host", "verify-full", "verify-ca"],
        ),
        (
            "require against a server without TLS",
            pg_url("127.0.0.1", plain, "no_tls", "sslmode=require"),
            vec!["sslmode", "does not offer it"],
        ),
    ];
    for (what, url, needles) in cases {
        for args in [&["migrate"][..], &["status"][..]] {
            let out = command(&[("DATABASE_URL", url.clone())], args);
            let stderr = stderr_of(&out);
            assert_eq!(out.status.code(), Some(1), "{what}, {args:?}: {stderr}");
            for needle in &needles {
                assert!(
                    stderr.contains(needle),
                    "{what}, {args:?}: no `{needle}` in {stderr}"
                );
            }
            println!("{what}, {args:?}: {}", stderr.trim());
        }
    }
    // Nothing was created on either server.
    assert!(!database_exists(&admin, "wrong_ca").await);
    assert!(!database_exists(&admin, "wrong_host").await);
    let plain_admin = pg_url("127.0.0.1", plain, "postgres", "sslmode=disable");
    assert!(!database_exists(&plain_admin, "no_tls").await);

    // `run` refuses to start the same way, naming the setting.
    let wrong_ca = pg_url(
        "localhost",
        port,
        "postgres",
        &format!("sslmode=verify-full&sslrootcert={}", servers.other_ca()),
    );
    let key = secret_sync::crypto::generate_key();
    let out = command(
        &[
            ("DATABASE_URL", wrong_ca),
            ("ENCRYPTION_KEY", key),
            ("HTTP_LISTEN", format!("127.0.0.1:{}", free_port())),
        ],
        &["run"],
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "run: {stderr}");
    assert!(stderr.contains("sslrootcert"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_amqps_consumes_and_acknowledges_and_a_wrong_ca_is_named() {
    let mut servers = TlsServers::certificates().await;
    let port = servers.start_rabbitmq().await;
    // A node list: the first node is gone, the second speaks AMQPS.
    let amqps = format!(
        "amqps://guest:guest@localhost:{}/%2f,amqps://guest:guest@localhost:{port}/%2f",
        free_port()
    );
    let ca = servers.ca();
    let env = TestEnv::with(|name| match name {
        "AMQP_URL" => Some(amqps.clone()),
        "AMQP_CA_FILE" => Some(ca.clone()),
        _ => None,
    })
    .await;
    let log = std::env::temp_dir().join(format!("tls-amqps-{}.log", Uuid::new_v4()));
    let worker = WorkerProcess::spawn(EXE, &env.settings, &[], &log);
    worker.wait_ready_status(200, Duration::from_secs(60)).await;
    let (_src, sync) = env.one_sync().await;
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let job = env.enqueue(sync).await;
        let row = env.wait_job(job).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
        jobs.push(job);
    }
    // Acknowledged: once the worker is gone (an unacknowledged message
    // would be back in the queue), nothing is left to deliver.
    let mut worker = worker;
    worker.terminate(Duration::from_secs(30)).await;
    let broker = secret_sync::queue::Broker::open(&env.settings, env.names.clone(), "tls test")
        .await
        .expect("the test connects over AMQPS too");
    let depths = broker.queue_depths().await.expect("queue depths");
    assert_eq!((depths.jobs, depths.dead), (0, 0));
    broker.close("done").await;

    // The wrong CA: refused, naming AMQP_CA_FILE and what is wrong.
    let mut vars = worker_env(&env.settings);
    vars.retain(|(k, _)| *k != "AMQP_CA_FILE");
    vars.push(("AMQP_CA_FILE", servers.other_ca()));
    let out = command(&vars, &["dead", "list"]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in [
        "not signed by a trusted certificate authority",
        "AMQP_CA_FILE",
    ] {
        assert!(stderr.contains(needle), "no `{needle}` in {stderr}");
    }
    assert!(
        !stderr.contains("guest:guest"),
        "credentials leaked: {stderr}"
    );
    worker.remove_log();
    env.finish().await;
}
