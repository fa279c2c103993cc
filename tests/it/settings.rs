//! A mistyped setting changes nothing: `run`, `api` and `migrate` check
//! every setting before their first connection and name every bad one at
//! once. Proved from outside, against the real binary: the database named
//! in `DATABASE_URL` is still missing afterwards, and a listener standing in
//! for RabbitMQ and Humanitec was never connected to.

use std::time::Duration;

use secret_sync::crypto::generate_key;
use tokio::net::TcpListener;
use tokio_postgres::NoTls;
use uuid::Uuid;

/// Each kind of bad setting, and how the error names it.
const BAD: [(&str, &str, &str); 4] = [
    (
        "ENCRYPTION_KEY",
        "abc",
        "ENCRYPTION_KEY is not valid: expected the base64 of exactly 32 bytes",
    ),
    (
        "SYNC_DEBOUNCE",
        "soon",
        "SYNC_DEBOUNCE is not valid: expected a duration",
    ),
    (
        "HUMANITEC_API_URL",
        "api.humanitec.io",
        "HUMANITEC_API_URL is not valid: expected an http or https URL",
    ),
    (
        "WORKER_CONCURRENCY",
        "lots",
        "WORKER_CONCURRENCY is not valid: expected a whole number",
    ),
];

async fn database_exists(name: &str) -> bool {
    let (client, conn) =
        tokio_postgres::connect("postgres://postgres@127.0.0.1:5432/postgres", NoTls)
            .await
            .expect("the machine's Postgres");
    let task = tokio::spawn(conn);
    let found = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("query")
        .is_some();
    drop(client);
    task.abort();
    found
}

/// Runs `secret-sync <command>` with only `vars` set (plus a good key and
/// URLs that would be used if the check let it through); returns its exit
/// success and stderr.
async fn refused(command: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let database = format!("secret_sync_settings_{}", Uuid::new_v4().simple());
    // Stands in for RabbitMQ and Humanitec: nothing may connect to it.
    let trap = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let trap_addr = trap.local_addr().expect("addr");
    let key = generate_key();
    let mut env: Vec<(&str, String)> = vec![
        (
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{database}"),
        ),
        ("AMQP_URL", format!("amqp://guest:guest@{trap_addr}/%2f")),
        ("HUMANITEC_API_URL", format!("http://{trap_addr}")),
        ("ENCRYPTION_KEY", key),
        ("API_LISTEN", "127.0.0.1:0".into()),
        ("HTTP_LISTEN", "127.0.0.1:0".into()),
    ];
    for (var, value) in vars {
        env.retain(|(v, _)| v != var);
        env.push((var, value.to_string()));
    }
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_secret-sync"))
        .arg(command)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("`{command}` with {vars:?} started instead of refusing"))
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !database_exists(&database).await,
        "`{command}` with {vars:?} created the database before refusing: {stderr}"
    );
    let knocked = tokio::time::timeout(Duration::from_millis(50), trap.accept()).await;
    assert!(
        knocked.is_err(),
        "`{command}` with {vars:?} connected to the broker or Humanitec before refusing: {stderr}"
    );
    (out.status.success(), stderr)
}

#[tokio::test]
async fn each_bad_setting_stops_run_api_and_migrate_before_any_connection() {
    for command in ["run", "api", "migrate"] {
        for (var, value, named) in BAD {
            let (ok, stderr) = refused(command, &[(var, value)]).await;
            assert!(!ok, "`{command}` with {var}={value} exited 0");
            assert!(stderr.contains(named), "`{command}` {var}: {stderr}");
            // The value itself is not echoed for the key.
            if var == "ENCRYPTION_KEY" {
                assert_eq!(stderr.matches("keygen").count(), 1, "{stderr}");
            }
        }
    }
}

#[tokio::test]
async fn every_bad_setting_is_named_in_one_run() {
    let all: Vec<(&str, &str)> = BAD.iter().map(|(var, value, _)| (*var, *value)).collect();
    for command in ["run", "api", "migrate"] {
        let (ok, stderr) = refused(command, &all).await;
        assert!(!ok);
        assert!(
            stderr.contains("4 settings are not valid; nothing was connected to or changed"),
            "`{command}`: {stderr}"
        );
        for (_, _, named) in BAD {
            assert!(
                stderr.contains(named),
                "`{command}` lacks {named}: {stderr}"
            );
        }
    }
}

#[tokio::test]
async fn a_missing_key_is_listed_with_the_other_bad_settings() {
    for command in ["run", "api"] {
        let (ok, stderr) = refused(
            command,
            &[("ENCRYPTION_KEY", ""), ("SESSION_IDLE_TIMEOUT", "0s")],
        )
        .await;
        assert!(!ok);
        assert!(
            stderr.contains("ENCRYPTION_KEY is not set")
                && stderr.contains("SESSION_IDLE_TIMEOUT is not valid: must be at least 1s"),
            "`{command}`: {stderr}"
        );
    }
}
