//! The real binary: `secret-sync token create|list|revoke` and
//! `secret-sync api`, as an operator uses them.

use std::process::Output;
use std::time::Duration;

use secret_sync_testkit::{eventually, TestEnv};

fn command(env: &TestEnv, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_secret-sync"));
    cmd.args(args).envs(env.product_env());
    cmd
}

fn run(env: &TestEnv, args: &[&str]) -> Output {
    let out = command(env, args).output().expect("secret-sync runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test]
async fn tokens_are_made_listed_and_revoked_on_the_command_line() {
    let env = TestEnv::new().await;
    env.seed.create_project("shop", "Shop").await;
    let port = free_port();
    let mut api = tokio::process::Command::from(command(&env, &["api"]));
    let _api = api
        .env("API_LISTEN", format!("127.0.0.1:{port}"))
        .kill_on_drop(true)
        .spawn()
        .expect("api starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), || async {
        let health = http.get(format!("{base}/healthz")).send().await;
        health.map_err(|e| format!("the API did not start: {e}"))
    })
    .await;

    let out = run(
        &env,
        &[
            "token",
            "create",
            "--project",
            "shop",
            "--role",
            "read",
            "--name",
            "dash",
        ],
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(token.starts_with("ssk_"), "{token}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("shown once") && !stderr.contains(&token),
        "{stderr}"
    );
    let list = |t: &str| {
        http.get(format!(
            "{base}/api/v1/secret-syncs/humanitec?projectId=shop"
        ))
        .bearer_auth(t)
        .send()
    };
    assert_eq!(list(&token).await.expect("get").status(), 200);

    let listed = String::from_utf8(run(&env, &["token", "list"]).stdout).expect("utf-8");
    assert!(
        listed.contains("dash") && listed.contains("read") && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "the token itself is never listed");
    let id = listed
        .lines()
        .find(|l| l.contains("dash"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the token's id")
        .to_string();

    run(&env, &["token", "revoke", &id]);
    let resp = list(&token).await.expect("get");
    assert_eq!(resp.status(), 401);
    let again = command(&env, &["token", "revoke", &id])
        .output()
        .expect("runs");
    assert!(!again.status.success(), "revoking twice says so");
    env.finish().await;
}

#[tokio::test]
async fn the_api_command_refuses_to_start_without_an_encryption_key() {
    let env = TestEnv::new().await;
    let out = command(&env, &["api"])
        .env_remove("ENCRYPTION_KEY")
        .env("API_LISTEN", format!("127.0.0.1:{}", free_port()))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ENCRYPTION_KEY is not set") && stderr.contains("keygen"),
        "{stderr}"
    );
    env.finish().await;
}
