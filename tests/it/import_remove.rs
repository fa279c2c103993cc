//! Key schemas, import and remove jobs, and the API view of a sync.

use std::collections::BTreeMap;

use secret_sync::JobStatus;
use secret_sync::{ImportBehavior, JobKind};
use secret_sync_testkit::*;
use serde_json::{json, Value};
use uuid::Uuid;

fn import(behavior: ImportBehavior) -> JobKind {
    JobKind::Import { behavior }
}

fn remove(delete_sync_on_complete: bool) -> JobKind {
    JobKind::Remove {
        delete_sync_on_complete,
    }
}

async fn folder_values(env: &TestEnv, folder: Uuid) -> BTreeMap<String, String> {
    env.seed.folder_values(folder).await
}

async fn sync_is_gone(env: &TestEnv, sync: Uuid) -> bool {
    let rows = env
        .store
        .reads
        .sync_statuses(Some(sync))
        .await
        .expect("rows");
    rows.is_empty()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn key_schema_transforms_keys_and_limits_what_is_managed() {
    let mut env = TestEnv::new().await;
    env.put_humanitec("api", None, &[("OTHER_KEY", "keep me", true)]);
    env.start_worker().await;
    let src = env.source("prod", &[("DB", "1"), ("OLD", "2")]).await;
    let schema = json!({"initialSyncBehavior": "overwrite-destination", "keySchema": "INFISICAL_{{environment}}_{{secretKey}}"});
    let sync = env.sync(&src, "schema", app_scope("api"), schema).await;
    assert_eq!(env.run_sync(sync).await.status, JobStatus::Succeeded);
    let keys = || {
        env.sandbox
            .values(ORG, "api", None)
            .into_iter()
            .map(|v| v.key)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(),
        vec!["INFISICAL_prod_DB", "INFISICAL_prod_OLD", "OTHER_KEY"]
    );

    env.seed.delete_secret(src.folder, "OLD").await;
    let row = env.run_sync(sync).await;
    assert_eq!((row.status, row.deleted), (JobStatus::Succeeded, 1));
    assert_eq!(keys(), vec!["INFISICAL_prod_DB", "OTHER_KEY"]);

    let row = env.run_job(sync, remove(false)).await;
    assert_eq!(
        (row.status, row.deleted),
        (JobStatus::Succeeded, 1),
        "{:?}",
        row.message
    );
    assert_eq!(
        keys(),
        vec!["OTHER_KEY"],
        "remove leaves unmanaged keys alone"
    );
    assert_eq!(
        env.sync_row(sync).await.remove_status,
        Some(JobStatus::Succeeded)
    );
    env.finish().await;
}

#[tokio::test]
async fn import_honours_the_behaviour_and_skips_secrets_by_name() {
    let mut env = TestEnv::new().await;
    env.put_humanitec(
        "api",
        None,
        &[
            ("PLAIN", "from-humanitec", false),
            ("NEW_ONE", "new", false),
            ("HIDDEN", "never-read", true),
        ],
    );
    env.start_worker().await;
    let src = env.source("prod", &[("PLAIN", "from-source")]).await;
    let sync = env.sync(&src, "imp", app_scope("api"), options()).await;

    let row = env
        .run_job(sync, import(ImportBehavior::PrioritizeSource))
        .await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(
        (row.created, row.updated, row.unchanged, row.skipped),
        (1, 0, 1, 1)
    );
    assert!(row
        .message
        .as_deref()
        .is_some_and(|m| m.contains("skipped 1 secret(s) Humanitec never reveals: HIDDEN")));
    assert_eq!(
        folder_values(&env, src.folder).await,
        map(&[("NEW_ONE", "new"), ("PLAIN", "from-source")])
    );

    let row = env
        .run_job(sync, import(ImportBehavior::PrioritizeDestination))
        .await;
    assert_eq!((row.status, row.updated), (JobStatus::Succeeded, 1));
    assert_eq!(
        folder_values(&env, src.folder).await,
        map(&[("NEW_ONE", "new"), ("PLAIN", "from-humanitec")])
    );
    assert_eq!(
        env.sync_row(sync).await.import_status,
        Some(JobStatus::Succeeded)
    );
    env.finish().await;
}

#[tokio::test]
async fn env_scope_import_reads_overrides_and_inherited_values() {
    let mut env = TestEnv::new().await;
    env.put_humanitec(
        "web",
        None,
        &[
            ("INHERITED", "app-value", false),
            ("OVERRIDE", "app-value", false),
        ],
    );
    env.put_humanitec("web", Some("staging"), &[("OVERRIDE", "env-value", false)]);
    env.start_worker().await;
    let src = env.source("prod", &[]).await;
    let sync = env
        .sync(&src, "imp", env_scope("web", "staging"), options())
        .await;
    let row = env
        .run_job(sync, import(ImportBehavior::PrioritizeDestination))
        .await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert!(row
        .message
        .as_deref()
        .is_some_and(|m| m.contains("1 from environment overrides, 1 inherited from the app")));
    assert_eq!(
        folder_values(&env, src.folder).await,
        map(&[("INHERITED", "app-value"), ("OVERRIDE", "env-value")])
    );
    env.finish().await;
}

#[tokio::test]
async fn env_scope_remove_leaves_app_values_and_can_delete_the_sync() {
    let mut env = TestEnv::new().await;
    env.put_humanitec("web", None, &[("SHARED", "app-level", true)]);
    env.start_worker().await;
    let src = env
        .source("prod", &[("SHARED", "override"), ("MINE", "x")])
        .await;
    let sync = env
        .sync(&src, "rm", env_scope("web", "production"), options())
        .await;
    assert_eq!(env.run_sync(sync).await.status, JobStatus::Succeeded);
    let row = env.run_job(sync, remove(true)).await;
    assert_eq!(
        (row.status, row.deleted),
        (JobStatus::Succeeded, 2),
        "{:?}",
        row.message
    );
    let view: Vec<(String, String, String)> = env
        .sandbox
        .values(ORG, "web", Some("production"))
        .into_iter()
        .map(|v| (v.key, v.value, v.source))
        .collect();
    assert_eq!(
        view,
        vec![
            ("MINE".into(), "".into(), "app".into()),
            ("SHARED".into(), "app-level".into(), "app".into())
        ],
        "overrides are gone; app-level values stay"
    );
    assert!(sync_is_gone(&env, sync).await, "sync row deleted");
    env.finish().await;
}

/// A job whose message was lost (a Postgres failover kept its `pending`
/// row; the broker no longer has it) is published again as it was asked:
/// an import keeps its behaviour, and a remove that deletes its sync still
/// deletes it; one that cannot run as it was asked is failed, saying so.
#[tokio::test]
async fn orphaned_imports_and_removes_are_published_again_as_they_were_asked() {
    // An orphan is a `pending` row untouched for 5 x JOB_STALE_AFTER.
    let mut env = TestEnv::with(|name| (name == "JOB_STALE_AFTER").then(|| "1s".into())).await;
    env.put_humanitec("api", None, &[("PLAIN", "from-humanitec", false)]);
    env.start_worker().await;
    let src = env.source("prod", &[("PLAIN", "from-source")]).await;
    let imported = env.sync(&src, "imp", app_scope("api"), options()).await;
    let removed = env.sync(&src, "rm", app_scope("web"), options()).await;
    assert_eq!(env.run_sync(removed).await.status, JobStatus::Succeeded);
    assert_eq!(env.humanitec_values("web", None).len(), 1);

    // Two that cannot run as asked: an import queued before kinds were
    // kept (its behaviour is unknown) and a kind from a newer version.
    let old_import = env.sync(&src, "old", app_scope("old"), options()).await;
    let future = env
        .sync(&src, "future", app_scope("future"), options())
        .await;
    let (import_job, remove_job) = (Uuid::new_v4(), Uuid::new_v4());
    let (old_import_job, future_job) = (Uuid::new_v4(), Uuid::new_v4());
    env.seed
        .client()
        .execute(
            "INSERT INTO secret_sync_jobs (id, sync_id, type, trigger, status, enqueued_at, kind)
             VALUES ($1, $2, 'import', 'test', 'pending', now() - interval '1 hour',
                     'import:prioritize-destination'),
                    ($3, $4, 'remove', 'test', 'pending', now() - interval '1 hour',
                     'remove+delete-sync'),
                    ($5, $6, 'import', 'test', 'pending', now() - interval '1 hour', NULL),
                    ($7, $8, 'sync', 'test', 'pending', now() - interval '1 hour', 'sync+teleport')",
            &[
                &import_job,
                &imported,
                &remove_job,
                &removed,
                &old_import_job,
                &old_import,
                &future_job,
                &future,
            ],
        )
        .await
        .expect("orphaned rows");

    let row = env.wait_job(import_job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(
        folder_values(&env, src.folder).await,
        map(&[("PLAIN", "from-humanitec")]),
        "the import ran with the behaviour it was queued with"
    );
    let row = env.wait_job(remove_job).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert!(env.humanitec_values("web", None).is_empty());
    assert!(
        sync_is_gone(&env, removed).await,
        "the remove deleted its sync, as it was asked to"
    );

    // Failed, saying what to do, on the job and on the sync: never claimed
    // again and again with nothing run.
    for (job, sync, field, says) in [
        (
            old_import_job,
            old_import,
            "import",
            "trigger the import again",
        ),
        (future_job, future, "sync", "'sync+teleport'"),
    ] {
        let row = env.wait_job(job).await;
        assert_eq!(row.status, JobStatus::Failed, "{:?}", row.message);
        let message = row.message.unwrap_or_default();
        assert!(message.contains(says), "{message}");
        let view = env.sync_view(sync).await;
        assert_eq!(view[format!("{field}Status")], "failed", "{view}");
        assert_eq!(
            view[format!("last{}Message", capitalise(field))],
            message.as_str()
        );
    }
    assert!(
        env.humanitec_values("old", None).is_empty()
            && env.humanitec_values("future", None).is_empty(),
        "neither ran"
    );
    env.finish().await;
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_api_view_matches_the_seed_schema_in_every_state() {
    let mut env = TestEnv::new().await;
    let schema: Value = serde_json::from_str(include_str!(
        "../../docs/schemas/secret-sync-response.schema.json"
    ))
    .expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("compiles");
    let check = |label: &str, obj: Value| {
        let doc = json!({ "secretSync": obj });
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{label}: {errors:?}\n{doc}");
    };
    let src = env.source("prod", &[("A", "1")]).await;
    let sync = env.sync(&src, "view", app_scope("api"), options()).await;
    let view = env.sync_view(sync).await;
    assert_eq!(view["folder"]["path"], "/app");
    assert_eq!(view["environment"]["slug"], "prod");
    assert_eq!(view["connection"]["app"], "humanitec");
    assert_eq!(view["destinationConfig"]["app"], "api");
    check("new", view);

    env.seed
        .execute_sql(&format!(
            "UPDATE secret_syncs SET sync_status = 'running' WHERE id = '{sync}'"
        ))
        .await;
    check("running", env.sync_view(sync).await);

    env.start_worker().await;
    assert_eq!(env.run_sync(sync).await.status, JobStatus::Succeeded);
    let view = env.sync_view(sync).await;
    assert_eq!(view["syncStatus"], "succeeded");
    check("succeeded", view);

    let bad = env
        .sync(&src, "view-bad", app_scope("no-such-app"), options())
        .await;
    assert_eq!(env.run_sync(bad).await.status, JobStatus::Failed);
    let view = env.sync_view(bad).await;
    assert_eq!(view["syncStatus"], "failed");
    check("failed", view);

    // Infisical's wider options (issue 39: an import behaviour, `recursive`)
    // stay in the row for the worker; the view shows the seed's object.
    let options = json!({"initialSyncBehavior": "import-prioritize-destination",
                         "keySchema": "W_{{secretKey}}", "disableSecretDeletion": false,
                         "recursive": false});
    let wide = env
        .sync(&src, "view-wide", app_scope("web"), options.clone())
        .await;
    let view = env.sync_view(wide).await;
    assert_eq!(
        view["syncOptions"],
        json!({"initialSyncBehavior": "overwrite-destination",
               "keySchema": "W_{{secretKey}}", "disableSecretDeletion": false})
    );
    check("wider options", view);
    let row = env.store.syncs.load_sync(wide).await.expect("load");
    assert_eq!(row.map(|r| r.sync_options), Some(options));

    env.seed
        .execute_sql(&format!(
            "DELETE FROM secret_folders WHERE id = '{}'",
            src.folder
        ))
        .await;
    let view = env.sync_view(sync).await;
    assert_eq!(
        (view["folder"].clone(), view["folderId"].clone()),
        (Value::Null, Value::Null)
    );
    check("folder deleted", view);
    env.finish().await;
}
