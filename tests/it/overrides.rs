//! App-level defaults with environment overrides (issue 20): an app-scope
//! sync writes the app's values, environment-scope syncs of the same app
//! write their environment's overrides. Not a conflict, nothing loops, and
//! removing one environment sync leaves the app and the other environments
//! alone. Checked in the sandbox's values and its request log.

use std::collections::BTreeMap;

use secret_sync::{JobKind, JobStatus};
use secret_sync_testkit::*;
use serde_json::json;
use uuid::Uuid;

const WEB: &str = "web";

/// What an environment shows: key -> (value, where it comes from).
fn env_view(env: &TestEnv, name: &str) -> BTreeMap<String, (String, String)> {
    env.sandbox
        .values(ORG, WEB, Some(name))
        .into_iter()
        .map(|v| (v.key, (v.value, v.source)))
        .collect()
}

fn view(pairs: &[(&str, &str, &str)]) -> BTreeMap<String, (String, String)> {
    pairs
        .iter()
        .map(|(k, v, s)| (k.to_string(), (v.to_string(), s.to_string())))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The sandbox's write calls since the log was last cleared: method and path.
fn writes(env: &TestEnv) -> Vec<(String, String)> {
    env.sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method, r.path))
        .collect()
}

async fn run_ok(env: &TestEnv, sync: Uuid) -> secret_sync::store::JobRow {
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    row
}

#[tokio::test]
async fn one_app_sync_and_two_environment_syncs_live_side_by_side() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let defaults = env
        .source(
            "defaults",
            &[
                ("DB_URL", "db-app"),
                ("API_KEY", "key-app"),
                ("LOG_LEVEL", "info"),
            ],
        )
        .await;
    let production = env
        .source(
            "production",
            &[("DB_URL", "db-prod"), ("API_KEY", "key-prod")],
        )
        .await;
    let staging = env
        .source(
            "staging",
            &[("DB_URL", "db-staging"), ("LOG_LEVEL", "debug")],
        )
        .await;
    // Default key schemas everywhere: the overrides have the app's keys.
    let app = env
        .sync(&defaults, "web-defaults", app_scope(WEB), options())
        .await;
    let prod = env
        .sync(
            &production,
            "web-production",
            env_scope(WEB, "production"),
            options(),
        )
        .await;
    // The third through the API: its conflict guard lets an override in.
    let token = env.api_token(&["proj"], "write").await;
    let created = reqwest::Client::new()
        .post(format!("{base}/api/v1/secret-syncs/humanitec"))
        .bearer_auth(&token)
        .json(&json!({
            "name": "web-staging",
            "projectId": "proj",
            "connectionId": staging.connection,
            "environment": "staging",
            "secretPath": "/app",
            "isAutoSyncEnabled": false,
            "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
            "destinationConfig": env_scope(WEB, "staging"),
        }))
        .send()
        .await
        .expect("create");
    let status = created.status().as_u16();
    let body: serde_json::Value = created.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    let stage: Uuid = body["secretSync"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("sync id");

    // The previews (the run's own first step) see no conflict either:
    // every key is to be created.
    for sync in [app, prod, stage] {
        let preview = env.preview(sync, false).await;
        assert_eq!(preview.create.len(), 2 + usize::from(sync == app));
    }

    for sync in [app, prod, stage] {
        run_ok(&env, sync).await;
    }
    let app_values = map(&[
        ("API_KEY", "key-app"),
        ("DB_URL", "db-app"),
        ("LOG_LEVEL", "info"),
    ]);
    assert_eq!(env.humanitec_values(WEB, None), app_values);
    let prod_view = view(&[
        ("API_KEY", "key-prod", "env"),
        ("DB_URL", "db-prod", "env"),
        ("LOG_LEVEL", "info", "app"),
    ]);
    let staging_view = view(&[
        ("API_KEY", "key-app", "app"),
        ("DB_URL", "db-staging", "env"),
        ("LOG_LEVEL", "debug", "env"),
    ]);
    assert_eq!(env_view(&env, "production"), prod_view);
    assert_eq!(env_view(&env, "staging"), staging_view);
    // An environment without a sync sees the app's values.
    assert_eq!(env.humanitec_values(WEB, Some("development")), app_values);
    assert!(env
        .sandbox
        .values(ORG, WEB, Some("production"))
        .iter()
        .all(|v| v.is_secret));

    // Resyncs, in either order, write nothing: one listing each.
    env.sandbox.clear_requests();
    for sync in [stage, prod, app, app, prod, stage] {
        let row = run_ok(&env, sync).await;
        assert_eq!((row.created, row.updated, row.deleted), (0, 0, 0));
    }
    assert_eq!(writes(&env), vec![], "resyncs write nothing");
    assert_eq!(env.sandbox.requests().len(), 6, "one GET per run");

    // Removing the production sync takes only its overrides.
    env.sandbox.clear_requests();
    let row = env
        .run_job(
            prod,
            JobKind::Remove {
                delete_sync_on_complete: false,
            },
        )
        .await;
    assert_eq!(
        (row.status, row.deleted),
        (JobStatus::Succeeded, 2),
        "{:?}",
        row.message
    );
    let mut deleted = writes(&env);
    deleted.sort();
    assert_eq!(
        deleted,
        vec![
            (
                "DELETE".to_string(),
                format!("/orgs/{ORG}/apps/{WEB}/envs/production/values/API_KEY")
            ),
            (
                "DELETE".to_string(),
                format!("/orgs/{ORG}/apps/{WEB}/envs/production/values/DB_URL")
            ),
        ]
    );
    assert_eq!(env.humanitec_values(WEB, None), app_values);
    assert_eq!(env.humanitec_values(WEB, Some("production")), app_values);
    assert_eq!(env_view(&env, "staging"), staging_view);
    // And the others still have nothing to do.
    env.sandbox.clear_requests();
    for sync in [app, stage] {
        run_ok(&env, sync).await;
    }
    assert_eq!(writes(&env), vec![]);
    env.finish().await;
}

/// An environment sync brings a key the app lacks: Humanitec needs an
/// app-level value under an override, so the sync puts an empty secret
/// there (the placeholder). An app sync that brings the key later adopts
/// the placeholder (its value wins), the override stays, and neither sync
/// writes again.
#[tokio::test]
async fn an_app_sync_adopts_the_placeholder_of_an_environment_override() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let production = env
        .source(
            "production",
            &[("FEATURE_FLAG", "on-in-prod"), ("DB_URL", "db-prod")],
        )
        .await;
    let prod = env
        .sync(
            &production,
            "web-production",
            env_scope(WEB, "production"),
            options(),
        )
        .await;
    let row = run_ok(&env, prod).await;
    assert_eq!(row.created, 2);
    // Placeholders at app level: empty secrets, nothing readable.
    assert_eq!(
        env.humanitec_values(WEB, None),
        map(&[("DB_URL", ""), ("FEATURE_FLAG", "")])
    );
    assert!(env
        .sandbox
        .values(ORG, WEB, None)
        .iter()
        .all(|v| v.is_secret));
    assert_eq!(
        env_view(&env, "production"),
        view(&[
            ("DB_URL", "db-prod", "env"),
            ("FEATURE_FLAG", "on-in-prod", "env"),
        ])
    );

    // Later an app sync brings one of those keys (and one of its own).
    let defaults = env
        .source(
            "defaults",
            &[("FEATURE_FLAG", "off"), ("LOG_LEVEL", "info")],
        )
        .await;
    let app = env
        .sync(&defaults, "web-defaults", app_scope(WEB), options())
        .await;
    env.sandbox.clear_requests();
    let row = run_ok(&env, app).await;
    assert_eq!((row.created, row.updated), (1, 1), "{:?}", row.message);
    let mut written = writes(&env);
    written.sort();
    assert_eq!(
        written,
        vec![
            (
                "PATCH".to_string(),
                format!("/orgs/{ORG}/apps/{WEB}/values/FEATURE_FLAG")
            ),
            ("POST".to_string(), format!("/orgs/{ORG}/apps/{WEB}/values")),
        ],
        "the placeholder is overwritten in place, never at env level"
    );
    // The app's value wins at app level; the override still wins in its
    // environment; another environment inherits the app's value. The
    // placeholder the app sync does not bring (DB_URL) stays as it was.
    assert_eq!(
        env.humanitec_values(WEB, None),
        map(&[
            ("DB_URL", ""),
            ("FEATURE_FLAG", "off"),
            ("LOG_LEVEL", "info")
        ])
    );
    assert_eq!(
        env_view(&env, "production"),
        view(&[
            ("DB_URL", "db-prod", "env"),
            ("FEATURE_FLAG", "on-in-prod", "env"),
            ("LOG_LEVEL", "info", "app"),
        ])
    );
    assert_eq!(
        env.humanitec_values(WEB, Some("staging"))
            .get("FEATURE_FLAG"),
        Some(&"off".to_string())
    );

    // Nothing loops: the env sync does not re-create or overwrite the app
    // value, the app sync does not touch the override, again and again.
    env.sandbox.clear_requests();
    for sync in [prod, app, prod, app] {
        let row = run_ok(&env, sync).await;
        assert_eq!((row.created, row.updated, row.deleted), (0, 0, 0));
    }
    assert_eq!(writes(&env), vec![], "no write in either direction");

    // A new value in the environment's source: only its override moves.
    env.put_secret(production.folder, "FEATURE_FLAG", "on-v2")
        .await;
    env.sandbox.clear_requests();
    run_ok(&env, prod).await;
    assert_eq!(
        writes(&env),
        vec![(
            "PATCH".to_string(),
            format!("/orgs/{ORG}/apps/{WEB}/envs/production/values/FEATURE_FLAG")
        )]
    );
    env.sandbox.clear_requests();
    run_ok(&env, app).await;
    assert_eq!(writes(&env), vec![], "the app sync has nothing to redo");
    assert_eq!(
        env.humanitec_values(WEB, None).get("FEATURE_FLAG"),
        Some(&"off".to_string())
    );

    // A pruning app sync does not fight the env sync either: the
    // placeholder under production's DB_URL override is not its to prune
    // (deleting it would take the override along); a stranger goes.
    env.put_humanitec(WEB, None, &[("STRANGER", "x", true)]);
    let prune = JobKind::Sync {
        prune_unmanaged: true,
    };
    let preview = env.preview(app, true).await;
    assert_eq!(preview.prune, vec!["STRANGER"]);
    assert_eq!(preview.unmanaged, vec!["DB_URL", "STRANGER"]);
    env.sandbox.clear_requests();
    let row = env.run_job(app, prune).await;
    assert_eq!(
        (row.status, row.deleted),
        (JobStatus::Succeeded, 1),
        "{:?}",
        row.message
    );
    assert_eq!(
        writes(&env),
        vec![(
            "DELETE".to_string(),
            format!("/orgs/{ORG}/apps/{WEB}/values/STRANGER")
        )]
    );
    assert_eq!(
        env_view(&env, "production")["DB_URL"],
        ("db-prod".to_string(), "env".to_string())
    );
    env.sandbox.clear_requests();
    run_ok(&env, prod).await;
    assert_eq!(writes(&env), vec![], "nothing to put back");

    // Removing the environment sync leaves the app's values (adopted or
    // still a placeholder) in place: env scope never deletes app values.
    let row = env
        .run_job(
            prod,
            JobKind::Remove {
                delete_sync_on_complete: false,
            },
        )
        .await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(
        env.humanitec_values(WEB, None),
        map(&[
            ("DB_URL", ""),
            ("FEATURE_FLAG", "off"),
            ("LOG_LEVEL", "info")
        ])
    );
    assert_eq!(
        env.humanitec_values(WEB, Some("production")),
        env.humanitec_values(WEB, None)
    );
    env.sandbox.clear_requests();
    run_ok(&env, app).await;
    assert_eq!(writes(&env), vec![]);
    env.finish().await;
}
