//! The demo (the README's first command) runs the whole pipeline against
//! local Postgres and RabbitMQ and the sandbox.

use secret_sync_testkit::drop_database;

/// The README's first command, as Cargo builds it for this test: it runs to
/// the end and prints the story, with no secret value in it.
#[tokio::test]
async fn the_demo_runs_the_whole_pipeline() {
    let demo = env!("CARGO_BIN_EXE_demo");
    let database = format!(
        "postgres://postgres@127.0.0.1:5432/demo_test_{}",
        uuid::Uuid::new_v4().simple()
    );
    let out = std::process::Command::new(demo)
        .env("DEMO_DATABASE_URL", &database)
        .output()
        .expect("run demo");
    let _ = drop_database(&database).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Demo succeeded"));
    assert!(
        stdout.contains("Humanitec calls: 1 in all (1 GET"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("sk_live_demo"),
        "secret values never printed"
    );
}

/// `--serve` (built with the `serve` feature: `cargo test -p demo
/// --features serve`): after the story the dashboard answers at the printed URL,
/// with the printed tokens, until Ctrl-C (SIGINT) stops it cleanly.
#[cfg(feature = "serve")]
#[tokio::test]
async fn the_demo_serves_the_dashboard_until_ctrl_c() {
    use std::io::BufRead;
    let demo = env!("CARGO_BIN_EXE_demo");
    let database = format!(
        "postgres://postgres@127.0.0.1:5432/demo_test_{}",
        uuid::Uuid::new_v4().simple()
    );
    let mut child = std::process::Command::new(demo)
        .arg("--serve")
        .env("DEMO_DATABASE_URL", &database)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run demo");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let value = |line: &str, label: &str| line.strip_prefix(label).map(|v| v.trim().to_string());
    let (mut url, mut read, mut write) = (None, None, None);
    let mut seen = String::new();
    while write.is_none() {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(240))
            .unwrap_or_else(|e| panic!("the demo stopped talking ({e}):\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        let line = line.trim();
        url = url.or_else(|| value(line, "Dashboard:"));
        read = read.or_else(|| value(line, "Read token:"));
        write = write.or_else(|| value(line, "Write token:"));
    }
    let url = url.expect("a dashboard URL");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for token in [read.expect("a read token"), write.expect("a write token")] {
        let login = http
            .post(format!("{url}login"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .expect("sign in");
        assert_eq!(login.status(), 303, "{seen}");
        let cookie = login
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session")
            .to_string();
        let page = http
            .get(&url)
            .header("cookie", cookie)
            .send()
            .await
            .expect("the dashboard")
            .text()
            .await
            .expect("body");
        assert!(
            page.contains("api-app") && page.contains("web-production"),
            "{page}"
        );
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the demo did not stop on Ctrl-C"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let _ = drop_database(&database).await;
    assert!(status.success(), "{status:?}");
    assert!(http.get(&url).send().await.is_err(), "the API stopped");
}
