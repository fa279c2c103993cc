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
