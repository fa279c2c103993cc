//! Sync jobs end to end: RabbitMQ -> worker -> Humanitec sandbox -> Postgres.

use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::json;

#[tokio::test]
async fn app_scope_sync_leaves_exactly_the_source_in_humanitec() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env
        .source(
            "production",
            &[
                ("DB_URL", "postgres://u:p@db/app"),
                ("API_KEY", "sk_123"),
                ("EMPTY", ""),
            ],
        )
        .await;
    let sync = env
        .sync(&src, "app-sync", app_scope("api"), options())
        .await;
    let job = env.enqueue(sync).await;
    let row = env.wait_job(job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!((row.created, row.updated, row.deleted), (3, 0, 0));

    let values = env.sandbox.values(ORG, "api", None);
    let got: Vec<(String, String, bool)> = values
        .iter()
        .map(|v| (v.key.clone(), v.value.clone(), v.is_secret))
        .collect();
    assert_eq!(
        got,
        vec![
            ("API_KEY".into(), "sk_123".into(), true),
            ("DB_URL".into(), "postgres://u:p@db/app".into(), true),
            ("EMPTY".into(), "".into(), true),
        ]
    );
    let sync_row = env.sync_row(sync).await;
    assert_eq!(sync_row.sync_status, Some(JobStatus::Succeeded));
    assert!(sync_row.last_synced_at.is_some());
    // As the API layer reads it.
    let view = env.sync_view(sync).await;
    assert_eq!(view["lastSyncJobId"], job.to_string());
    assert_requests_match_spec(&env.sandbox);

    // A second run with nothing changed costs one GET and writes nothing.
    env.sandbox.clear_requests();
    let again = env.run_sync(sync).await;
    assert_eq!(again.status, JobStatus::Succeeded);
    assert_eq!(again.unchanged, 3);
    let calls: Vec<String> = env
        .sandbox
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(calls, vec!["GET"]);
    env.finish().await;
}

#[tokio::test]
async fn env_scope_sync_overrides_inherited_and_existing_values() {
    let mut env = TestEnv::new().await;
    // Humanitec before: APP_ONLY exists only at app level, OVERRIDDEN has an env override.
    env.put_humanitec(
        "web",
        None,
        &[
            ("APP_ONLY", "app-level", true),
            ("OVERRIDDEN", "app-level", true),
        ],
    );
    env.put_humanitec(
        "web",
        Some("production"),
        &[("OVERRIDDEN", "old-override", true)],
    );
    env.start_worker().await;
    let src = env
        .source(
            "production",
            &[("APP_ONLY", "v1"), ("OVERRIDDEN", "v2"), ("NEW_KEY", "v3")],
        )
        .await;
    let sync = env
        .sync(&src, "env-sync", env_scope("web", "production"), options())
        .await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);

    let view: Vec<(String, String, String)> = env
        .sandbox
        .values(ORG, "web", Some("production"))
        .into_iter()
        .map(|v| (v.key, v.value, v.source))
        .collect();
    assert_eq!(
        view,
        vec![
            ("APP_ONLY".into(), "v1".into(), "env".into()),
            ("NEW_KEY".into(), "v3".into(), "env".into()),
            ("OVERRIDDEN".into(), "v2".into(), "env".into()),
        ]
    );
    // App-level values are untouched; the new key got an empty secret base.
    let app: Vec<(String, String, bool)> = env
        .sandbox
        .values(ORG, "web", None)
        .into_iter()
        .map(|v| (v.key, v.value, v.is_secret))
        .collect();
    assert_eq!(
        app,
        vec![
            ("APP_ONLY".into(), "app-level".into(), true),
            ("NEW_KEY".into(), "".into(), true),
            ("OVERRIDDEN".into(), "app-level".into(), true),
        ]
    );
    // Other environments still inherit the app values.
    let staging = env.sandbox.values(ORG, "web", Some("staging"));
    assert!(staging.iter().all(|v| v.source == "app"));
    assert_requests_match_spec(&env.sandbox);
    env.finish().await;
}

#[tokio::test]
async fn removed_keys_are_deleted_unless_deletion_is_disabled() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env
        .source("production", &[("KEEP", "1"), ("GONE", "2")])
        .await;
    let deleting = env
        .sync(&src, "deleting", app_scope("api"), options())
        .await;
    let keeping = env
        .sync(
            &src,
            "keeping",
            app_scope("web"),
            json!({"initialSyncBehavior": "overwrite-destination", "disableSecretDeletion": true}),
        )
        .await;
    for s in [deleting, keeping] {
        assert_eq!(env.run_sync(s).await.status, JobStatus::Succeeded);
    }
    env.seed.delete_secret(src.folder, "GONE").await;
    let row = env.run_sync(deleting).await;
    assert_eq!(
        (row.status, row.deleted, row.unchanged),
        (JobStatus::Succeeded, 1, 1)
    );
    let row = env.run_sync(keeping).await;
    assert_eq!((row.status, row.deleted), (JobStatus::Succeeded, 0));

    let keys = |app: &str| {
        env.sandbox
            .values(ORG, app, None)
            .into_iter()
            .map(|v| v.key)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys("api"), vec!["KEEP"]);
    assert_eq!(keys("web"), vec!["GONE", "KEEP"]);
    env.finish().await;
}

#[tokio::test]
async fn a_readable_value_is_replaced_by_a_secret() {
    let mut env = TestEnv::new().await;
    env.put_humanitec("api", None, &[("TOKEN", "readable!", false)]);
    env.start_worker().await;
    let src = env.source("production", &[("TOKEN", "hidden")]).await;
    let sync = env.sync(&src, "s", app_scope("api"), options()).await;
    assert_eq!(env.run_sync(sync).await.status, JobStatus::Succeeded);
    let v = &env.sandbox.values(ORG, "api", None)[0];
    assert_eq!(
        (v.key.as_str(), v.value.as_str(), v.is_secret),
        ("TOKEN", "hidden", true)
    );
    env.finish().await;
}

#[tokio::test]
async fn a_value_deleted_and_re_created_by_hand_is_rewritten() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env.source("production", &[("TOKEN", "from-source")]).await;
    let sync = env.sync(&src, "s", app_scope("api"), options()).await;
    let first = env.run_sync(sync).await;
    assert_eq!(first.status, JobStatus::Succeeded, "{:?}", first.message);
    let before = env.sandbox.values(ORG, "api", None);
    // Someone deletes the secret and creates it again by hand: Humanitec
    // restarts its version, so the version alone looks unchanged.
    env.sandbox.delete_value(ORG, "api", None, "TOKEN");
    env.put_humanitec("api", None, &[("TOKEN", "typed by hand", true)]);
    let after = env.sandbox.values(ORG, "api", None);
    assert_eq!(
        before[0].secret_version, after[0].secret_version,
        "the same version as the one recorded"
    );
    let row = env.run_sync(sync).await;
    assert_eq!(
        (row.status, row.updated),
        (JobStatus::Succeeded, 1),
        "{:?}",
        row.message
    );
    assert_eq!(env.sandbox.values(ORG, "api", None)[0].value, "from-source");
    env.finish().await;
}

/// Issue 36: a secret named `..` once made the worker send `DELETE
/// /orgs/{org}/apps/{app}/` (the application). Keys `.`, `..`, `...`,
/// `%2e`, `.%2E` in an app sync and an env sync, then deleted at the source
/// and removed: every request the sandbox logs addresses the values
/// collection or one value, and a value written by hand survives.
#[tokio::test]
async fn dot_keys_never_reach_past_one_value() {
    use secret_sync::JobKind;
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    env.put_humanitec("web", None, &[("MANUAL", "by hand", true)]);
    env.put_humanitec(
        "web",
        Some("production"),
        &[("MANUAL", "by hand, env", true)],
    );
    let keys = [".", "..", "...", "%2e", ".%2E", "OK"];
    let secrets: Vec<(&str, &str)> = keys.iter().map(|k| (*k, "v")).collect();
    let src = env.source("production", &secrets).await;
    let app = env.sync(&src, "app", app_scope("web"), options()).await;
    let envs = env
        .sync(&src, "env", env_scope("web", "production"), options())
        .await;
    // An older build pushed `..` (POST carries the key in the body), so it
    // is this sync's to delete once the source loses it.
    env.put_humanitec("web", None, &[("..", "old", true)]);
    env.sql()
        .await
        .execute(
            "INSERT INTO secret_sync_pushed_keys (sync_id, destination, key, fingerprint)
             VALUES ($1, $2, '..', '\\x00')",
            &[&app, &format!("{ORG}/web")],
        )
        .await
        .expect("pushed row");

    // `%2e` and `.%2E` do not fit Humanitec's key pattern: nothing is sent.
    for sync in [app, envs] {
        let row = env.run_sync(sync).await;
        assert_eq!(row.status, JobStatus::Failed, "{:?}", row.message);
        let msg = row.message.unwrap_or_default();
        assert!(msg.contains("%2e") && msg.contains(".%2E"), "{msg}");
    }
    assert!(
        env.sandbox.requests().is_empty(),
        "nothing reached Humanitec"
    );

    // Without them: `...` and `OK` are written, `.` and `..` skipped by name.
    for k in ["%2e", ".%2E"] {
        env.seed.delete_secret(src.folder, k).await;
    }
    let preview = env.preview(app, false).await;
    let skipped: Vec<&str> = preview.skipped.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(skipped, vec![".", ".."], "{preview:?}");
    for sync in [app, envs] {
        let row = env.run_sync(sync).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
        assert_eq!(row.created, 2, "`...` and OK");
        let msg = row.message.unwrap_or_default();
        assert!(
            msg.contains("no Humanitec URL can address") && msg.contains("`..`"),
            "{msg}"
        );
    }

    // Deleted at the source, then removed.
    for k in [".", "..", "..."] {
        env.seed.delete_secret(src.folder, k).await;
    }
    for sync in [envs, app] {
        let row = env.run_sync(sync).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
        assert_eq!(row.deleted, 1, "`...` only: {:?}", row.message);
    }
    for sync in [envs, app] {
        let row = env
            .run_job(
                sync,
                JobKind::Remove {
                    delete_sync_on_complete: false,
                },
            )
            .await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
        if sync == app {
            let msg = row.message.unwrap_or_default();
            assert!(
                msg.contains("`..`"),
                "the remove names the key it left: {msg}"
            );
            assert_eq!(row.skipped, 1);
        }
    }

    let values = |app: &str, e: Option<&str>| -> Vec<String> {
        env.sandbox
            .values(ORG, app, e)
            .into_iter()
            .map(|v| v.key)
            .collect()
    };
    assert_eq!(
        values("web", None),
        vec!["..", "MANUAL"],
        "the app and its hand-written value stay"
    );
    assert_eq!(
        env.humanitec_values("web", Some("production"))
            .get("MANUAL")
            .map(String::as_str),
        Some("by hand, env"),
        "the environment and its hand-written override stay"
    );
    let collection = format!("/orgs/{ORG}/apps/web/values");
    let env_collection = format!("/orgs/{ORG}/apps/web/envs/production/values");
    for r in env.sandbox.requests() {
        let (base, key) = match r.path.rsplit_once('/') {
            Some((base, key)) if r.path != collection && r.path != env_collection => (base, key),
            _ => (r.path.as_str(), ""),
        };
        assert!(
            base == collection || base == env_collection,
            "{} {} is outside the values",
            r.method,
            r.path
        );
        match r.method.as_str() {
            "GET" | "POST" => assert!(key.is_empty(), "{} {}", r.method, r.path),
            _ => assert!(
                ["...", "OK"].contains(&key),
                "{} {} addresses more than one value",
                r.method,
                r.path
            ),
        }
    }
    assert_requests_match_spec(&env.sandbox);
    env.finish().await;
}
