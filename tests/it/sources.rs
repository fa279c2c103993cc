//! What a sync pushes is what Infisical's sync would push (issue 39): the
//! folder's secrets plus its secret imports, with secret references
//! expanded, and with `recursive` its subfolders; a change in an imported
//! or referenced folder auto-syncs the syncs that read it; cycles, missing
//! references and clashes fail naming what to fix, before any write.

use std::collections::BTreeMap;
use std::time::Duration;

use secret_sync::queue::SecretChanged;
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::json;

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn imports_and_references_push_the_expanded_values_and_their_changes_auto_sync() {
    let mut env = TestEnv::new().await;
    let src = env
        .source(
            "production",
            &[
                ("OWN", "own"),
                ("HOST", "db-host"),
                ("OVER", "own-wins"),
                // Two levels: PORT is itself `${BASE}2` in shared:/net.
                ("URL", "pg://${HOST}:${shared.net.PORT}/db"),
            ],
        )
        .await;
    let seed = &env.seed;
    let base = seed.create_folder(&src.project, "shared", "/base").await;
    let extra = seed.create_folder(&src.project, "shared", "/extra").await;
    let net = seed.create_folder(&src.project, "shared", "/net").await;
    for (folder, key, value) in [
        (base, "FROM_BASE", "b1"),
        (base, "OVER", "base"),
        (base, "SHARED_KEY", "base"),
        // Expanded in its own folder: FROM_BASE of shared:/base.
        (base, "DSN", "${FROM_BASE}-dsn"),
        (extra, "SHARED_KEY", "extra"),
        (net, "PORT", "${BASE}2"),
        (net, "BASE", "543"),
    ] {
        env.put_secret(folder, key, value).await;
    }
    seed.add_import(src.folder, "shared", "/base", 1).await;
    seed.add_import(src.folder, "shared", "/extra", 2).await;
    let sync = env.sync(&src, "imports", app_scope("api"), options()).await;

    // The preview names each key's origin.
    let preview = env.preview(sync, false).await;
    let origin = |k: &str| preview.origins.get(k).cloned().unwrap_or_default();
    assert_eq!(origin("OWN"), "production:/app");
    assert_eq!(origin("OVER"), "production:/app", "own keys win");
    assert_eq!(origin("FROM_BASE"), "shared:/base");
    assert_eq!(
        origin("SHARED_KEY"),
        "shared:/extra",
        "the later import wins"
    );

    env.start_worker().await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    let expected = values(&[
        ("DSN", "b1-dsn"),
        ("FROM_BASE", "b1"),
        ("HOST", "db-host"),
        ("OVER", "own-wins"),
        ("OWN", "own"),
        ("SHARED_KEY", "extra"),
        ("URL", "pg://db-host:5432/db"),
    ]);
    assert_eq!(env.humanitec_values("api", None), expected);

    // Editing an imported secret, then a referenced one: the change event
    // of that folder auto-syncs this sync.
    for (folder, path, key, value) in [
        (base, "/base", "FROM_BASE", "b2"),
        (net, "/net", "BASE", "544"),
    ] {
        env.put_secret(folder, key, value).await;
        let change = SecretChanged {
            project_id: src.project.clone(),
            environment: "shared".into(),
            path: path.into(),
        };
        env.client.publish_change(&change).await.expect("publish");
    }
    eventually(Duration::from_secs(30), || async {
        let now = env.humanitec_values("api", None);
        seen(now, |v| {
            v.get("DSN").map(String::as_str) == Some("b2-dsn")
                && v.get("URL").map(String::as_str) == Some("pg://db-host:5442/db")
        })
        .map(|_| ())
    })
    .await;
    env.finish().await;
}

#[tokio::test]
async fn import_and_reference_cycles_and_missing_references_fail_naming_the_chain() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env.source("production", &[("A", "1")]).await;
    let seed = &env.seed;
    let a = seed.create_folder(&src.project, "shared", "/a").await;
    let b = seed.create_folder(&src.project, "shared", "/b").await;
    seed.add_import(src.folder, "shared", "/a", 1).await;
    seed.add_import(a, "shared", "/b", 1).await;
    seed.add_import(b, "shared", "/a", 1).await;
    let cyclic = env.sync(&src, "cyclic", app_scope("api"), options()).await;

    let refs = seed
        .create_folder(&src.project, "production", "/refs")
        .await;
    env.put_secret(refs, "X", "${Y}").await;
    env.put_secret(refs, "Y", "y${X}").await;
    let ref_src = Source {
        project: src.project.clone(),
        folder: refs,
        connection: src.connection,
    };
    let ref_cycle = env
        .sync(&ref_src, "ref-cycle", app_scope("web"), options())
        .await;

    let missing = seed
        .create_folder(&src.project, "production", "/missing")
        .await;
    env.put_secret(missing, "K", "${shared.nowhere.TOKEN}")
        .await;
    let missing_src = Source {
        project: src.project.clone(),
        folder: missing,
        connection: src.connection,
    };
    env.add_humanitec_app("miss", &[]);
    let missing_ref = env
        .sync(&missing_src, "missing", app_scope("miss"), options())
        .await;

    let cases = [
        (
            cyclic,
            "api",
            "production:/app -> shared:/a -> shared:/b -> shared:/a",
        ),
        (
            ref_cycle,
            "web",
            "production:/refs/X -> production:/refs/Y -> production:/refs/X",
        ),
        (
            missing_ref,
            "miss",
            "references `${shared.nowhere.TOKEN}`, but that folder does not exist",
        ),
    ];
    for (sync, app, needle) in cases {
        let row = env.run_sync(sync).await;
        assert_eq!(row.status, JobStatus::Failed);
        let message = row.message.unwrap_or_default();
        assert!(message.contains(needle), "no `{needle}` in {message}");
        assert!(
            env.humanitec_values(app, None).is_empty(),
            "nothing written to {app}"
        );
    }
    env.finish().await;
}

#[tokio::test]
async fn a_recursive_sync_pushes_its_subfolders_and_a_clash_names_both_paths() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env.source("production", &[("ROOT", "r")]).await;
    let seed = &env.seed;
    for (path, key, value) in [
        ("/app/x", "X", "x"),
        ("/app/x/y", "Y", "y"),
        // Not below /app: a sibling whose name starts the same.
        ("/apple", "OTHER", "o"),
    ] {
        let folder = seed.create_folder(&src.project, "production", path).await;
        env.put_secret(folder, key, value).await;
    }
    let recursive = json!({"initialSyncBehavior": "overwrite-destination", "recursive": true});
    let sync = env
        .sync(&src, "recursive", app_scope("api"), recursive)
        .await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(
        env.humanitec_values("api", None),
        values(&[("ROOT", "r"), ("X", "x"), ("Y", "y")])
    );

    let clash = seed
        .create_folder(&src.project, "production", "/app/z")
        .await;
    env.put_secret(clash, "X", "other").await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Failed);
    let message = row.message.unwrap_or_default();
    assert!(
        message.contains("`X` is in both production:/app/x and production:/app/z"),
        "{message}"
    );
    assert_eq!(
        env.humanitec_values("api", None)
            .get("X")
            .map(String::as_str),
        Some("x")
    );
    env.finish().await;
}
