//! Never clobber: the preview says exactly what the run does; a sync never
//! deletes keys it did not push (unless a job asks to prune); two syncs
//! fighting over one destination are stopped before any write.

use std::collections::BTreeSet;
use std::sync::Arc;

use humanitec_sandbox::RequestRecord;
use secret_sync::jobs::Preview;
use secret_sync::{JobKind, JobStatus};
use secret_sync_testkit::*;
use serde_json::json;

/// The destination key a write request targets (POST carries it in the
/// body; PATCH and DELETE in the path).
fn target_key(r: &RequestRecord) -> String {
    match (&r.body, r.method.as_str()) {
        (Some(body), "POST") => body["key"].as_str().unwrap_or_default().to_string(),
        _ => r.path.rsplit('/').next().unwrap_or_default().to_string(),
    }
}

/// Keys written (POST/PATCH) and keys only deleted, per the request log.
fn writes_and_deletes(requests: &[RequestRecord]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut written = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    for r in requests {
        match r.method.as_str() {
            "POST" | "PATCH" => {
                written.insert(target_key(r));
            }
            "DELETE" => {
                deleted.insert(target_key(r));
            }
            _ => {}
        }
    }
    // A replace is DELETE then POST: that key counts as written.
    let deleted = deleted.difference(&written).cloned().collect();
    (written, deleted)
}

fn preview_sets(p: &Preview) -> (BTreeSet<String>, BTreeSet<String>) {
    let written = p
        .create
        .iter()
        .cloned()
        .chain(p.update.iter().map(|u| u.key.clone()))
        .collect();
    (written, p.delete.iter().cloned().collect())
}

async fn preview_then_run(env_scope_run: bool) {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let (app, humanitec_env) = ("web", Some("production"));
    let destination = if env_scope_run {
        env_scope(app, "production")
    } else {
        app_scope(app)
    };
    let at = if env_scope_run { humanitec_env } else { None };
    let src = env
        .source(
            "production",
            &[
                ("CHANGED", "1"),
                ("DRIFTED", "2"),
                ("DROPPED", "3"),
                ("SAME", "4"),
                ("MADE_SECRET", "5"),
            ],
        )
        .await;
    // At app level: env scope sees it inherited, app scope as it is.
    env.put_humanitec(app, None, &[("FOREIGN", "not ours", true)]);
    let sync = env.sync(&src, "clobber", destination, options()).await;
    let first = env.run_sync(sync).await;
    assert_eq!(first.status, JobStatus::Succeeded, "{:?}", first.message);

    // Every kind of change at once.
    env.put_secret(src.folder, "CHANGED", "1-rotated").await;
    env.seed.delete_secret(src.folder, "DROPPED").await;
    env.put_secret(src.folder, "NEW", "6").await;
    env.put_humanitec(
        app,
        at,
        &[
            ("DRIFTED", "edited by hand", true),
            ("MADE_SECRET", "readable now", false),
        ],
    );

    let preview = env.preview(sync, false).await;
    assert_eq!(preview.create, vec!["NEW"]);
    let updates: Vec<(String, String)> = preview
        .update
        .iter()
        .map(|u| (u.key.clone(), u.reason.describe().to_string()))
        .collect();
    assert_eq!(
        updates,
        vec![
            (
                "CHANGED".to_string(),
                "value or description changed in the source".to_string()
            ),
            (
                "DRIFTED".to_string(),
                "changed in Humanitec by someone else".to_string()
            ),
            (
                "MADE_SECRET".to_string(),
                "readable value in Humanitec; made a secret".to_string()
            ),
        ]
    );
    assert_eq!(preview.delete, vec!["DROPPED"]);
    assert_eq!(preview.unchanged, vec!["SAME"]);
    assert!(
        preview.unmanaged.contains(&"FOREIGN".to_string()),
        "{preview:?}"
    );

    env.sandbox.clear_requests();
    let run = env.run_sync(sync).await;
    assert_eq!(run.status, JobStatus::Succeeded, "{:?}", run.message);
    let requests = env.sandbox.requests();
    assert_eq!(
        writes_and_deletes(&requests),
        preview_sets(&preview),
        "{requests:#?}"
    );
    let gets = requests.iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, 1, "one listing per run");
    // What the sync's own scope holds (env scope: its overrides; the empty
    // app-level bases it created stay, as app values are never deleted).
    let own_scope = if env_scope_run { "env" } else { "app" };
    let keys: Vec<String> = env
        .sandbox
        .values(ORG, app, at)
        .iter()
        .filter(|v| v.source == own_scope)
        .map(|v| v.key.clone())
        .collect();
    let app_keys: Vec<String> = env
        .sandbox
        .values(ORG, app, None)
        .iter()
        .map(|v| v.key.clone())
        .collect();
    assert!(app_keys.contains(&"FOREIGN".to_string()), "{app_keys:?}");
    assert!(!keys.contains(&"DROPPED".to_string()), "{keys:?}");
    assert_requests_match_spec(&env.sandbox);
    env.finish().await;
}

#[tokio::test]
async fn app_scope_run_does_exactly_what_the_preview_said() {
    preview_then_run(false).await;
}

#[tokio::test]
async fn env_scope_run_does_exactly_what_the_preview_said() {
    preview_then_run(true).await;
}

#[tokio::test]
async fn a_foreign_key_survives_syncs_and_removes_unless_pruned() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    env.put_humanitec(
        "api",
        None,
        &[
            ("P_STRAY", "someone else's", true),
            ("OTHER", "someone else's too", false),
        ],
    );
    let src = env.source("prod", &[("A", "1"), ("B", "2")]).await;
    let sync = env
        .sync(
            &src,
            "prefixed",
            app_scope("api"),
            json!({"initialSyncBehavior": "overwrite-destination", "keySchema": "P_{{secretKey}}"}),
        )
        .await;
    let keys = || {
        env.sandbox
            .values(ORG, "api", None)
            .iter()
            .map(|v| v.key.clone())
            .collect::<Vec<_>>()
    };
    for _ in 0..2 {
        let row = env.run_sync(sync).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    }
    env.seed.delete_secret(src.folder, "B").await;
    let row = env.run_sync(sync).await;
    assert_eq!((row.status, row.deleted), (JobStatus::Succeeded, 1));
    assert_eq!(keys(), vec!["OTHER", "P_A", "P_STRAY"]);

    let remove = JobKind::Remove {
        delete_sync_on_complete: false,
    };
    let row = env.run_job(sync, remove).await;
    assert_eq!((row.status, row.deleted), (JobStatus::Succeeded, 1));
    assert_eq!(
        keys(),
        vec!["OTHER", "P_STRAY"],
        "remove deletes only what it pushed"
    );

    // A one-off cleanup, asked for explicitly and previewed first.
    let preview = env.preview(sync, true).await;
    assert_eq!(preview.prune, vec!["P_STRAY"]);
    assert!(preview.unmanaged.contains(&"OTHER".to_string()));
    let prune = JobKind::Sync {
        prune_unmanaged: true,
    };
    let row = env.run_job(sync, prune).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(
        keys(),
        vec!["OTHER", "P_A"],
        "pruned what the schema matches, nothing else"
    );
    env.finish().await;
}

#[tokio::test]
async fn conflicting_syncs_written_around_the_api_fail_before_any_call() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let src = env
        .source("production", &[("DB_URL", "x"), ("API_KEY", "y")])
        .await;
    // Two syncs of one environment (the same level of Humanitec's values).
    let first = env
        .sync(&src, "first", env_scope("web", "production"), options())
        .await;
    let per_env = env
        .sync(&src, "per-env", env_scope("web", "production"), options())
        .await;
    let row = env.run_sync(per_env).await;
    assert_eq!(row.status, JobStatus::Failed);
    let message = row.message.unwrap_or_default();
    for needle in [
        "`per-env`",
        "`first`",
        &first.to_string(),
        "API_KEY, DB_URL",
        "nothing was written",
    ] {
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }
    assert!(
        env.sandbox.requests().is_empty(),
        "Humanitec untouched: {:?}",
        env.sandbox.requests()
    );

    // Distinct key schemas: no conflict, both run.
    for (sync, prefix) in [(per_env, "ENV_"), (first, "FIRST_")] {
        env.seed
            .execute_sql(&format!(
                "UPDATE secret_syncs SET sync_options = jsonb_build_object('initialSyncBehavior', 'overwrite-destination', \
                 'keySchema', '{prefix}{{{{secretKey}}}}') WHERE id = '{sync}'"
            ))
            .await;
    }
    for sync in [per_env, first] {
        let row = env.run_sync(sync).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    }
    env.finish().await;
}

#[tokio::test]
async fn the_api_serves_the_workers_preview() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let src = env.source("production", &[("A", "1"), ("B", "2")]).await;
    env.put_humanitec("web", None, &[("FOREIGN", "not ours", true)]);
    let sync = env
        .sync(&src, "previewed", app_scope("web"), options())
        .await;
    let token = env.api_token(&[&src.project], "read").await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        let request = http.get(format!("{base}{path}")).bearer_auth(&token);
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.expect("json");
            (status, body)
        }
    };
    let (status, body) = get(format!("/api/v1/secret-syncs/humanitec/{sync}/preview")).await;
    assert_eq!(status, 200, "{body}");
    let expected = serde_json::to_value(env.preview(sync, false).await).expect("json");
    assert_eq!(body["preview"], expected);
    assert_eq!(body["preview"]["create"], json!(["A", "B"]));
    assert_eq!(body["preview"]["unmanaged"], json!(["FOREIGN"]));
    // The response is what the served document promises.
    let document: serde_json::Value = http
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("json");
    let mut schema = document["components"]["schemas"]["SyncPreviewResponse"].clone();
    schema["components"] = document["components"].clone();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    assert!(validator.is_valid(&body), "{body}");

    let (status, body) = get(format!(
        "/api/v1/secret-syncs/humanitec/{sync}/preview?pruneUnmanaged=true"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["preview"]["prune"], json!(["FOREIGN"]));
    assert!(
        env.sandbox.requests().iter().all(|r| r.method == "GET"),
        "a preview never writes"
    );
    env.finish().await;
}

/// Issue 37: the conflict rule has one home (`jobs::conflicts::refusal`),
/// and the API's create, the dashboard's preview and the worker's run all
/// refuse the same pair with it, in the same words, writing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_the_dashboard_and_the_worker_refuse_the_same_pair() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let src = env
        .source("prod", &[("DB_URL", "x"), ("API_KEY", "y")])
        .await;
    let first = env.sync(&src, "first", app_scope("web"), options()).await;
    let token = env.api_token(&[&src.project], "write").await;
    let rule = "both write to the same Humanitec values";

    // The API: a second sync of the same app with the same schema.
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    let (status, answer) = api
        .post(
            "/api/v1/secret-syncs/humanitec",
            json!({
                "name": "second",
                "projectId": src.project,
                "connectionId": src.connection.to_string(),
                "environment": "prod",
                "secretPath": "/app/",
                "isAutoSyncEnabled": false,
                "syncOptions": options(),
                "destinationConfig": app_scope("web"),
            }),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let by_api = answer["message"].as_str().unwrap_or_default().to_string();

    // The same pair written around the API: the dashboard's preview of it.
    let second = env.sync(&src, "second", app_scope("web"), options()).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = dashboard_sign_in(&http, &base, &token).await;
    let by_dashboard = http
        .get(format!("{base}/syncs/{second}/preview"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("the preview page")
        .text()
        .await
        .expect("body");

    // And the worker's run of it.
    let row = env.run_sync(second).await;
    assert_eq!(row.status, JobStatus::Failed);
    let by_worker = row.message.unwrap_or_default();

    for (face, said) in [
        ("api", &by_api),
        ("dashboard", &by_dashboard),
        ("worker", &by_worker),
    ] {
        assert!(said.contains(rule), "{face} did not refuse: {said}");
        assert!(
            said.contains(&first.to_string()),
            "{face} names the other sync of the project: {said}"
        );
    }
    let writes: Vec<_> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(
        writes.is_empty(),
        "nothing written to Humanitec: {writes:?}"
    );
    env.finish().await;
}
