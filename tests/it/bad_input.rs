//! Bad input: clear errors on the rows, poison messages dead-lettered, and
//! the worker keeps going.

use secret_sync::JobStatus;
use secret_sync_testkit::*;
use uuid::Uuid;

#[tokio::test]
async fn poison_messages_are_dead_lettered_and_the_worker_keeps_consuming() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    env.publish_raw("sync", b"this is not json").await;
    let (body, headers) = env.take_dead_letter().await.expect("dead letter");
    assert_eq!(body, b"this is not json");
    let reason = header_text(&headers, "x-secret-sync-dead-reason").unwrap_or_default();
    assert!(reason.contains("not JSON"), "{reason}");

    env.publish_raw("sync", br#"{"type":"sync"}"#).await;
    let (_, headers) = env.take_dead_letter().await.expect("dead letter");
    let reason = header_text(&headers, "x-secret-sync-dead-reason").unwrap_or_default();
    assert!(reason.contains("syncId"), "{reason}");

    // A good job right after still runs.
    let (_, sync) = env.one_sync().await;
    assert_eq!(env.run_sync(sync).await.status, JobStatus::Succeeded);
    env.finish().await;
}

/// Issue 36: a message naming sync B with the `jobId` of sync A's job
/// once overwrote A's job row. It is refused and dead-lettered with the
/// reason; A's job and B's sync are untouched and nothing reaches Humanitec.
#[tokio::test]
async fn a_job_id_of_another_sync_is_dead_lettered_and_that_job_is_untouched() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let (src, a) = env.one_sync().await;
    let b = env.sync(&src, "other", app_scope("web"), options()).await;
    let done = env.run_sync(a).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.message);
    env.sandbox.clear_requests();

    let body = format!(r#"{{"jobId":"{}","syncId":"{b}","type":"sync"}}"#, done.id);
    env.publish_raw("sync", body.as_bytes()).await;
    let (dead, headers) = env.take_dead_letter().await.expect("dead letter");
    assert_eq!(dead, body.as_bytes());
    let reason = header_text(&headers, "x-secret-sync-dead-reason").unwrap_or_default();
    assert!(reason.contains("belongs to another sync"), "{reason}");

    let after = env.wait_job(done.id).await;
    assert_eq!(
        (after.sync_id, after.status, &after.message, after.attempt),
        (a, JobStatus::Succeeded, &done.message, done.attempt),
        "sync A's job row is as it was"
    );
    assert!(
        env.sync_view(b).await["lastSyncJobId"].is_null(),
        "sync B names no job"
    );
    assert!(
        env.sandbox.requests().is_empty(),
        "nothing reached Humanitec"
    );
    // The worker goes on.
    assert_eq!(env.run_sync(b).await.status, JobStatus::Succeeded);
    env.finish().await;
}

#[tokio::test]
async fn unknown_sync_fails_the_job_with_a_clear_message() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let missing = Uuid::new_v4();
    let row = env.run_sync(missing).await;
    assert_eq!(row.status, JobStatus::Failed);
    assert_eq!(
        row.message.as_deref(),
        Some(format!("sync {missing} does not exist (deleted?); nothing to do").as_str())
    );
    env.finish().await;
}

/// Runs a sync job that must fail; the sync row's message.
async fn failed_message(env: &TestEnv, sync: Uuid) -> String {
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Failed);
    let row = env.sync_row(sync).await;
    row.last_sync_message.unwrap_or_default()
}

#[tokio::test]
async fn missing_connection_or_folder_fail_with_what_to_fix() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env.source("production", &[("A", "1")]).await;
    let no_conn = env.sync(&src, "no-conn", app_scope("api"), options()).await;
    env.seed
        .execute_sql(&format!(
            "DELETE FROM app_connections WHERE id = '{}'",
            src.connection
        ))
        .await;
    let msg = failed_message(&env, no_conn).await;
    assert!(
        msg.contains("connection") && msg.contains("does not exist"),
        "{msg}"
    );

    let src = env.source("staging", &[("A", "1")]).await;
    let no_folder = env
        .sync(&src, "no-folder", app_scope("api"), options())
        .await;
    env.seed
        .execute_sql(&format!(
            "DELETE FROM secret_folders WHERE id = '{}'",
            src.folder
        ))
        .await;
    let msg = failed_message(&env, no_folder).await;
    assert!(msg.contains("source folder no longer exists"), "{msg}");
    assert!(
        env.sandbox.requests().is_empty(),
        "nothing reached Humanitec"
    );
    env.finish().await;
}

/// Syncs from a source whose connection holds `token`: the job fails at
/// once; returns the sync's message.
async fn fails_at_once_with_token(env: &TestEnv, token: &str, from: &str, app: &str) -> String {
    let src = env.source_with_token(from, &[("A", "1")], token).await;
    let sync = env
        .sync(&src, &format!("{from}-{app}"), app_scope(app), options())
        .await;
    let row = env.run_sync(sync).await;
    assert_eq!((row.status, row.attempt), (JobStatus::Failed, 1));
    let row = env.sync_row(sync).await;
    row.last_sync_message.unwrap_or_default()
}

#[tokio::test]
async fn rejected_tokens_fail_at_once_and_say_to_check_the_token() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let msg = fails_at_once_with_token(&env, "revoked-token", "production", "api").await;
    assert!(
        msg.contains("401") && msg.contains("check the connection's token"),
        "{msg}"
    );
    assert!(
        !msg.contains("revoked-token"),
        "the token never appears in messages"
    );

    let msg = fails_at_once_with_token(&env, "sandbox-viewer-token", "staging", "web").await;
    assert!(
        msg.contains("403") && msg.contains("Developer role"),
        "{msg}"
    );
    env.finish().await;
}

#[tokio::test]
async fn keys_humanitec_cannot_hold_fail_the_job_before_any_write() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env
        .source("production", &[("GOOD", "1"), ("BAD KEY", "2")])
        .await;
    let sync = env.sync(&src, "s", app_scope("api"), options()).await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Failed);
    let msg = row.message.unwrap_or_default();
    assert!(
        msg.contains("BAD KEY") && msg.contains("nothing was written"),
        "{msg}"
    );
    assert!(
        env.sandbox.requests().is_empty(),
        "no call reached Humanitec"
    );
    assert!(env.sandbox.values(ORG, "api", None).is_empty());
    env.finish().await;
}
