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

/// The `sessions` column of a token's line in `token list` (the projects,
/// joined without spaces, come last).
fn listed_sessions(listed: &str, id: &str) -> String {
    let line = listed
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("token {id} listed: {listed}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    cols[cols.len() - 2].to_string()
}

#[tokio::test]
async fn dashboard_sessions_are_counted_listed_and_ended_with_their_token() {
    let mut env = TestEnv::new().await;
    env.seed.create_project("shop", "Shop").await;
    let base = env.start_api().await;
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
    let listed = String::from_utf8(run(&env, &["token", "list"]).stdout).expect("utf-8");
    let id = listed
        .lines()
        .find(|l| l.contains("dash"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the token's id")
        .to_string();
    assert_eq!(listed_sessions(&listed, &id), "0", "{listed}");

    // Two browsers sign in.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let res = http
            .post(format!("{base}/login"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 303);
        let set = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("cookie")
            .to_string();
        cookies.push(set.split(';').next().expect("name=value").to_string());
    }
    let page = |cookie: &str| {
        http.get(format!("{base}/"))
            .header("cookie", cookie.to_string())
            .send()
    };
    for c in &cookies {
        assert_eq!(page(c).await.expect("page").status(), 200);
    }
    let listed = String::from_utf8(run(&env, &["token", "list"]).stdout).expect("utf-8");
    assert_eq!(listed_sessions(&listed, &id), "2", "{listed}");
    let shown = run(&env, &["token", "sessions", &id]);
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(
        stdout.lines().count(),
        3,
        "a header and two sessions: {stdout}"
    );
    for c in &cookies {
        let session_id = c.split_once('=').expect("=").1;
        assert!(!stdout.contains(session_id), "session ids are never shown");
    }

    // Revoking ends both at once.
    run(&env, &["token", "revoke", &id]);
    for c in &cookies {
        assert_eq!(page(c).await.expect("page").status(), 303, "to /login");
    }
    let listed = String::from_utf8(run(&env, &["token", "list"]).stdout).expect("utf-8");
    assert_eq!(listed_sessions(&listed, &id), "0", "{listed}");
    env.finish().await;
}
