//! The HTTP API end to end, over real HTTP against `secret-sync api`
//! started in-process, with a worker, real Postgres and RabbitMQ and the
//! Humanitec sandbox. Every response is checked against the seed's schemas.

use std::sync::Arc;
use std::time::Duration;

use secret_sync::crypto::{Aad, Column};
use secret_sync::store::ConnectionRecord;
use secret_sync_testkit::{
    app_scope, env_scope, eventually, seen, ApiClient, SeedContract, TestEnv, ADMIN_TOKEN, ORG,
};
use serde_json::{json, Value};
use uuid::Uuid;

const SYNCS: &str = "/api/v1/secret-syncs/humanitec";
const CONNECTIONS: &str = "/api/v1/app-connections/humanitec";

/// GETs the sync until `field` equals `want` (30 s at most); fails early,
/// with the row, if the job failed instead.
async fn wait_for(api: &ApiClient, id: &str, field: &str, want: &str) -> Value {
    eventually(Duration::from_secs(30), || async {
        let (status, body) = api.get(&format!("{SYNCS}/{id}")).await;
        assert_eq!(status, 200, "{body}");
        api.contract.check_sync(&body);
        let sync = body["secretSync"].clone();
        assert_ne!(sync[field], "failed", "{field} failed: {sync:#}");
        seen(sync, |sync| sync[field] == want)
    })
    .await
}

/// Keys (and values) the sandbox holds at a scope; env scope lists only
/// values set on the environment itself.
fn keys_at(env: &TestEnv, app: &str, scope_env: Option<&str>) -> Vec<(String, String)> {
    let mut kv: Vec<(String, String)> = env
        .sandbox
        .values(ORG, app, scope_env)
        .into_iter()
        .filter(|v| scope_env.is_none() || v.source == "env")
        .map(|v| (v.key, v.value))
        .collect();
    kv.sort();
    kv
}

fn sync_body(name: &str, connection: &str, environment: &str, destination: Value) -> Value {
    json!({
        "name": name,
        "projectId": "proj",
        "connectionId": connection,
        "environment": environment,
        "secretPath": "/app/",
        "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
        "destinationConfig": destination,
    })
}

fn with_schema(mut body: Value, schema: &str) -> Value {
    body["syncOptions"]["keySchema"] = json!(schema);
    body
}

#[tokio::test]
async fn from_nothing_to_a_running_sync_and_back_over_http() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    env.seed.create_project("proj", "Project").await;
    let prod = env.seed.create_folder("proj", "prod", "/app").await;
    env.put_secret(prod, "DB_URL", "postgres://prod").await;
    env.put_secret(prod, "API_KEY", "k-prod").await;
    let dev = env.seed.create_folder("proj", "dev", "/app").await;
    env.put_secret(dev, "DB_URL", "postgres://dev").await;
    let token = env.api_token(&["proj"], "write").await;
    let contract = Arc::new(SeedContract::load());
    let api = ApiClient::new(&base, Some(&token), contract.clone());

    // A token Humanitec rejects: 400, and nothing is stored.
    let (status, body) = api
        .post(
            CONNECTIONS,
            json!({"name": "humanitec", "projectId": "proj", "method": "api-token",
                   "credentials": {"apiToken": "not-a-real-token"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("Humanitec rejected the API token"),
        "{body}"
    );
    assert!(!body.to_string().contains("not-a-real-token"));
    let (status, body) = api.get(&format!("{CONNECTIONS}?projectId=proj")).await;
    assert_eq!((status, body), (200, json!({"appConnections": []})));

    // The real token: stored encrypted, never shown.
    let (status, body) = api
        .post(
            CONNECTIONS,
            json!({"name": "humanitec", "projectId": "proj", "description": "service user",
                   "method": "api-token", "credentials": {"apiToken": ADMIN_TOKEN}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    contract.check_connection(&body);
    assert!(!body.to_string().contains(ADMIN_TOKEN));
    let conn = body["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let stored: ConnectionRecord = env
        .store
        .syncs
        .load_connection(conn.parse().expect("uuid"))
        .await
        .expect("store")
        .expect("row");
    assert!(!String::from_utf8_lossy(&stored.encrypted_credentials).contains(ADMIN_TOKEN));
    assert_eq!(
        stored.encrypted_credentials.first(),
        Some(&0x02),
        "layout 0x02"
    );
    let plain = env
        .cipher()
        .decrypt_string(
            &stored.encrypted_credentials,
            Aad::new("proj", Column::ConnectionCredentials),
        )
        .expect("decrypts");
    assert_eq!(
        serde_json::from_str::<Value>(&plain).expect("json"),
        json!({"apiToken": ADMIN_TOKEN})
    );

    // App scope, auto-synced: the first job is queued by the create call.
    let (status, body) = api
        .post(
            SYNCS,
            with_schema(
                sync_body("web-app", &conn, "prod", app_scope("web")),
                "APP_{{secretKey}}",
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    contract.check_sync(&body);
    let created = &body["secretSync"];
    assert_eq!(created["isAutoSyncEnabled"], true, "the seed's default");
    assert_eq!(
        created["folder"]["path"], "/app",
        "secretPath is normalised"
    );
    assert_eq!(created["environment"]["slug"], "prod");
    assert_eq!(created["connection"]["name"], "humanitec");
    let first_job = created["lastSyncJobId"]
        .as_str()
        .expect("job id")
        .to_string();
    assert!(
        ["pending", "running", "succeeded"].contains(&created["syncStatus"].as_str().unwrap_or("")),
        "{created}"
    );
    let app_id = created["id"].as_str().expect("id").to_string();
    let done = wait_for(&api, &app_id, "syncStatus", "succeeded").await;
    assert_eq!(done["lastSyncJobId"], first_job.as_str());
    assert_eq!(
        keys_at(&env, "web", None),
        vec![
            ("APP_API_KEY".to_string(), "k-prod".to_string()),
            ("APP_DB_URL".to_string(), "postgres://prod".to_string())
        ]
    );
    assert!(env
        .sandbox
        .values(ORG, "web", None)
        .iter()
        .all(|v| v.is_secret));

    // App scope of the same app again: with the default key schema it would
    // fight web-app over the same app-level keys, so it is refused, naming
    // it. (Environment scope of the same app is not refused: overrides.)
    let fighting = sync_body("web-app-2", &conn, "dev", app_scope("web"));
    let (status, body) = api.post(SYNCS, fighting).await;
    // A rule refusing a well-formed request: 400 BadRequest, as Infisical
    // answers its own rules (a taken name, a connection in use).
    assert_eq!(status, 400, "{body}");
    contract.check_error(400, &body);
    assert_eq!(body["error"], "BadRequest");
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains("`web-app`") && message.contains(&app_id),
        "{body}"
    );

    // Environment scope, not auto-synced: nothing runs until asked.
    let mut manual = with_schema(
        sync_body("web-dev", &conn, "dev", env_scope("web", "development")),
        "DEV_{{secretKey}}",
    );
    manual["isAutoSyncEnabled"] = json!(false);
    manual["description"] = json!("dev values");
    let (status, body) = api.post(SYNCS, manual).await;
    assert_eq!(status, 200, "{body}");
    contract.check_sync(&body);
    let env_id = body["secretSync"]["id"].as_str().expect("id").to_string();
    assert_eq!(body["secretSync"]["syncStatus"], Value::Null);
    assert_eq!(body["secretSync"]["lastSyncJobId"], Value::Null);
    let (status, body) = api
        .post(&format!("{SYNCS}/{env_id}/sync-secrets"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    contract.check_sync(&body);
    let job = body["secretSync"]["lastSyncJobId"]
        .as_str()
        .expect("job id")
        .to_string();
    Uuid::parse_str(&job).expect("a job id");
    wait_for(&api, &env_id, "syncStatus", "succeeded").await;
    assert_eq!(keys_at(&env, "web", Some("development")).len(), 1);

    // Import: readable values come into the folder (env scope reads the
    // app's values too, as Humanitec does).
    env.put_humanitec("web", None, &[("DEV_LOG_LEVEL", "debug", false)]);
    let (status, body) = api
        .post(
            &format!("{SYNCS}/{env_id}/import-secrets"),
            json!({"importBehavior": "prioritize-destination"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    contract.check_sync(&body);
    assert!(body["secretSync"]["lastImportJobId"].is_string(), "{body}");
    let imported = wait_for(&api, &env_id, "importStatus", "succeeded").await;
    assert_eq!(
        env.seed
            .folder_values(dev)
            .await
            .get("LOG_LEVEL")
            .map(String::as_str),
        Some("debug"),
        "{imported:#}"
    );

    // Remove: what the sync pushed leaves Humanitec.
    let (status, body) = api
        .post(&format!("{SYNCS}/{env_id}/remove-secrets"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    contract.check_sync(&body);
    assert!(body["secretSync"]["lastRemoveJobId"].is_string(), "{body}");
    wait_for(&api, &env_id, "removeStatus", "succeeded").await;
    assert!(keys_at(&env, "web", Some("development")).is_empty());
    assert_eq!(
        keys_at(&env, "web", None).len(),
        4,
        "app-level values are never removed from env scope"
    );

    // Update: a new destination takes effect with the next (automatic) sync.
    let (status, body) = api
        .patch(
            &format!("{SYNCS}/{app_id}"),
            json!({"destinationConfig": app_scope("api"), "description": "moved"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    contract.check_sync(&body);
    assert_eq!(body["secretSync"]["version"], 2);
    assert_eq!(body["secretSync"]["description"], "moved");
    assert_ne!(
        body["secretSync"]["lastSyncJobId"],
        first_job.as_str(),
        "a new job was queued"
    );
    wait_for(&api, &app_id, "syncStatus", "succeeded").await;
    assert_eq!(keys_at(&env, "api", None).len(), 2);
    // A rename changes nothing in Humanitec: no job.
    let before = wait_for(&api, &app_id, "syncStatus", "succeeded").await;
    let (status, body) = api
        .patch(&format!("{SYNCS}/{app_id}"), json!({"name": "api-app"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secretSync"]["lastSyncJobId"], before["lastSyncJobId"]);
    assert_eq!(body["secretSync"]["syncStatus"], "succeeded");
    assert_eq!(body["secretSync"]["version"], 3);
    assert_eq!(
        keys_at(&env, "web", None).len(),
        4,
        "keys at the old destination are left in place"
    );

    // List, then the connection cannot go while syncs use it.
    let (status, body) = api.get(&format!("{SYNCS}?projectId=proj")).await;
    assert_eq!(status, 200);
    contract.check_sync_list(&body);
    let names: Vec<&str> = body["secretSyncs"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, vec!["api-app", "web-dev"]);
    let (status, body) = api.delete(&format!("{CONNECTIONS}/{conn}")).await;
    assert_eq!(status, 400, "in use: 400 BadRequest, as Infisical: {body}");
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains("api-app") && message.contains("web-dev"),
        "{body}"
    );

    // Delete with removeSecrets=true: a remove job, then the row goes.
    let (status, body) = api
        .delete(&format!("{SYNCS}/{app_id}?removeSecrets=true"))
        .await;
    assert_eq!(status, 200, "{body}");
    contract.check_sync(&body);
    assert!(body["secretSync"]["lastRemoveJobId"].is_string(), "{body}");
    eventually(Duration::from_secs(30), || async {
        let (status, body) = api.get(&format!("{SYNCS}/{app_id}")).await;
        if status == 404 {
            return Ok(());
        }
        assert_eq!(status, 200, "{body}");
        assert_ne!(body["secretSync"]["removeStatus"], "failed", "{body}");
        Err(format!("sync not deleted: {body}"))
    })
    .await;
    assert!(
        keys_at(&env, "api", None).is_empty(),
        "removed from Humanitec first"
    );

    // Delete without removing: the keys stay; then the connection can go.
    let (status, body) = api.delete(&format!("{SYNCS}/{env_id}")).await;
    assert_eq!(status, 200, "{body}");
    contract.check_sync(&body);
    let (status, _) = api.get(&format!("{SYNCS}/{env_id}")).await;
    assert_eq!(status, 404);
    let (status, body) = api.delete(&format!("{CONNECTIONS}/{conn}")).await;
    assert_eq!(status, 200, "{body}");
    contract.check_connection(&body);
    let (status, _) = api.get(&format!("{CONNECTIONS}/{conn}")).await;
    assert_eq!(status, 404);
    env.finish().await;
}

/// A worker can open a job before the broker confirms it to the API; the
/// sync row is then left to the run, which writes it only once it has gone
/// on for a while or ended. The trigger's answer must still name the job it
/// queued. A trigger in this test's database takes each queued marker away
/// the moment it is written, as such a worker does, so the interleaving
/// happens every time.
#[tokio::test]
async fn a_trigger_names_the_job_it_queued_when_a_worker_opened_it_before_the_confirm() {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    let (src, sync) = env.one_sync().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    let sql = env.sql().await;
    sql.batch_execute(
        "CREATE FUNCTION take_markers() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN DELETE FROM secret_sync_queued; RETURN NULL; END $$;
         CREATE TRIGGER a_quick_worker AFTER INSERT ON secret_sync_queued
           FOR EACH STATEMENT EXECUTE FUNCTION take_markers();",
    )
    .await
    .expect("installing the quick worker");

    // Creating an auto-synced sync queues its first job; then each trigger.
    let create = sync_body(
        "web",
        &src.connection.to_string(),
        "production",
        app_scope("web"),
    );
    for (path, body, id_field, status_field, job_type) in [
        (
            SYNCS.to_string(),
            create,
            "lastSyncJobId",
            "syncStatus",
            "sync",
        ),
        (
            format!("{SYNCS}/{sync}/sync-secrets"),
            json!({}),
            "lastSyncJobId",
            "syncStatus",
            "sync",
        ),
        (
            format!("{SYNCS}/{sync}/remove-secrets"),
            json!({}),
            "lastRemoveJobId",
            "removeStatus",
            "remove",
        ),
    ] {
        let (status, body) = api.post(&path, body).await;
        assert_eq!(status, 200, "{path}: {body}");
        api.contract.check_sync(&body);
        let shown = &body["secretSync"];
        let sync: Uuid = shown["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("id");
        let job_id = shown[id_field]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or_else(|| panic!("{path} names no job: {body}"));
        assert_eq!(shown[status_field], "pending", "{path}: {body}");
        let recorded = sql
            .query_one(
                "SELECT type, status FROM secret_sync_jobs WHERE id = $1 AND sync_id = $2",
                &[&job_id, &sync],
            )
            .await
            .unwrap_or_else(|e| panic!("{path}: no job row {job_id}: {e}"));
        assert_eq!(recorded.get::<_, String>(0), job_type, "{path}");
        assert_eq!(recorded.get::<_, String>(1), "pending", "{path}");
    }
    // Deleting with removeSecrets queues a remove job the same way.
    let (status, body) = api
        .delete(&format!("{SYNCS}/{sync}?removeSecrets=true"))
        .await;
    assert_eq!(status, 200, "{body}");
    let job_id: Uuid = body["secretSync"]["lastRemoveJobId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the delete names no job: {body}"));
    let kind = sql
        .query_one(
            "SELECT kind FROM secret_sync_jobs WHERE id = $1 AND type = 'remove'",
            &[&job_id],
        )
        .await
        .unwrap_or_else(|e| panic!("no remove job row {job_id}: {e}"));
    assert_eq!(kind.get::<_, String>(0), "remove+delete-sync");
    env.finish().await;
}

/// Issue 36: the conflict check and the insert are one transaction under
/// the destination's lock, so racing creates cannot both pass; and a
/// destination the connection's token cannot read is refused at create.
#[tokio::test]
async fn racing_creates_on_one_destination_let_exactly_one_through() {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    let src = env.source("prod", &[("A", "1")]).await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    let connection = src.connection.to_string();
    let body = |name: &str, destination: Value| {
        let mut b = sync_body(name, &connection, "prod", destination);
        b["isAutoSyncEnabled"] = json!(false);
        b
    };

    let racers = (0..8).map(|i| api.post(SYNCS, body(&format!("race-{i}"), app_scope("web"))));
    let answers = futures::future::join_all(racers).await;
    let created = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(created, 1, "exactly one create wins: {answers:#?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(*status, 400, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("can produce the same keys"), "{message}");
    }
    let rows = env
        .sql()
        .await
        .query_one(
            "SELECT count(*) FROM secret_syncs WHERE destination_config->>'app' = 'web'",
            &[],
        )
        .await
        .expect("count");
    assert_eq!(rows.get::<_, i64>(0), 1, "one row at the destination");

    // Destinations the connection's token cannot read: 400 naming what to
    // check, and nothing stored.
    for (destination, expect) in [
        (app_scope("no-such-app"), "Humanitec has no"),
        (env_scope("api", "production"), "Humanitec has no"),
        (
            json!({"scope": "application", "org": "other-org", "app": "web"}),
            "Humanitec has no",
        ),
    ] {
        let (status, answer) = api
            .post(SYNCS, body("unreachable", destination.clone()))
            .await;
        assert_eq!(status, 400, "{destination} -> {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(expect), "{destination} -> {message}");
    }
    // A PATCH to such a destination is refused the same way.
    let id = answers
        .iter()
        .find(|(status, _)| *status == 200)
        .and_then(|(_, b)| b["secretSync"]["id"].as_str().map(str::to_string))
        .expect("the winner's id");
    let (status, answer) = api
        .patch(
            &format!("{SYNCS}/{id}"),
            json!({"destinationConfig": app_scope("no-such-app")}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let count = env
        .sql()
        .await
        .query_one("SELECT count(*) FROM secret_syncs", &[])
        .await
        .expect("count");
    assert_eq!(count.get::<_, i64>(0), 1, "nothing else stored");
    env.finish().await;
}

/// `?key=`: "which syncs push DATABASE_URL?" answers exactly the syncs whose
/// record of pushed keys holds that name (after the key schema), never a
/// sync that has not pushed it yet, nor another project's; the name is
/// matched whole and case-sensitively, and checked like other key names.
#[tokio::test]
async fn the_list_filters_by_a_key_the_syncs_pushed() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "read").await;
    let contract = Arc::new(SeedContract::load());
    let api = ApiClient::new(&base, Some(&token), contract.clone());

    let prod = env
        .source(
            "production",
            &[("DATABASE_URL", "postgres://secret"), ("API_KEY", "k")],
        )
        .await;
    let staging = env.source("staging", &[("REDIS_URL", "redis://r")]).await;
    let opts = json!({"initialSyncBehavior": "overwrite-destination"});
    let prefixed_opts = json!({"initialSyncBehavior": "overwrite-destination",
                               "keySchema": "PRE_{{secretKey}}"});
    for app in ["billing", "prefixed", "cache", "idle"] {
        env.add_humanitec_app(app, &["production"]);
    }
    let billing = env
        .sync(&prod, "billing", app_scope("billing"), opts.clone())
        .await;
    let prefixed = env
        .sync(&prod, "prefixed", app_scope("prefixed"), prefixed_opts)
        .await;
    let cache = env
        .sync(&staging, "cache", app_scope("cache"), opts.clone())
        .await;
    // Its source holds DATABASE_URL, but it never pushed it.
    let _idle = env
        .sync(&prod, "idle", app_scope("idle"), opts.clone())
        .await;
    for id in [billing, prefixed, cache] {
        let job = env.run_sync(id).await;
        assert_eq!(
            job.status,
            secret_sync::JobStatus::Succeeded,
            "{:?}",
            job.message
        );
    }
    // Another project's sync that pushed DATABASE_URL (its record, seeded).
    env.seed.create_project("other-proj", "Other").await;
    let b_folder = env
        .seed
        .create_folder("other-proj", "production", "/app")
        .await;
    let b_conn = env
        .seed
        .create_connection("other-proj", "other-conn", ADMIN_TOKEN)
        .await;
    let b_sync = env
        .seed
        .create_sync(
            "other-proj",
            "other-billing",
            b_folder,
            b_conn,
            &app_scope("b-app"),
            &opts,
        )
        .await;
    env.seed
        .execute_sql(&format!(
            "INSERT INTO secret_sync_pushed_keys (sync_id, destination, key, fingerprint)
             VALUES ('{b_sync}', '{ORG}/b-app', 'DATABASE_URL', '\\x00')"
        ))
        .await;

    let names = |body: &Value| -> Vec<String> {
        contract.check_sync_list(body);
        body["secretSyncs"]
            .as_array()
            .expect("list")
            .iter()
            .map(|s| s["name"].as_str().expect("name").to_string())
            .collect()
    };
    for (query, want) in [
        ("", vec!["billing", "cache", "idle", "prefixed"]),
        ("&key=DATABASE_URL", vec!["billing"]),
        ("&key=API_KEY", vec!["billing"]),
        ("&key=PRE_DATABASE_URL", vec!["prefixed"]),
        ("&key=REDIS_URL", vec!["cache"]),
        // Whole and exact: no part, no other case.
        ("&key=DATABASE", vec![]),
        ("&key=database_url", vec![]),
        ("&key=NOT_PUSHED_ANYWHERE", vec![]),
        ("&key=DATABASE_URL&limit=1&offset=1", vec![]),
    ] {
        for list in [SYNCS, "/api/v1/secret-syncs"] {
            let (status, body) = api.get(&format!("{list}?projectId=proj{query}")).await;
            assert_eq!(status, 200, "{list} {query}: {body}");
            assert_eq!(names(&body), want, "{list} {query}");
            assert!(!body.to_string().contains("postgres://secret"));
        }
    }

    // Another project: refused as for its plain list; an admin sees it.
    let (status, body) = api
        .get(&format!("{SYNCS}?projectId=other-proj&key=DATABASE_URL"))
        .await;
    assert_eq!(status, 403, "{body}");
    let admin = api.with_token(Some(&env.api_token(&[], "admin").await));
    let (status, body) = admin
        .get(&format!("{SYNCS}?projectId=other-proj&key=DATABASE_URL"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), vec!["other-billing"]);

    // Checked like other key names: 1 to 256 characters, nothing invisible.
    let long = "K".repeat(257);
    for bad in ["", long.as_str(), "DB%00URL", "DB%0AURL", "DB%E2%80%8BURL"] {
        let (status, body) = api.get(&format!("{SYNCS}?projectId=proj&key={bad}")).await;
        assert_eq!(status, 400, "key={bad}: {body}");
    }
    let (status, body) = api
        .get(&format!("{SYNCS}?projectId=proj&key={}", "K".repeat(256)))
        .await;
    assert_eq!((status, names(&body)), (200, vec![]));

    // The record follows the source: a key deleted there and synced away
    // is no longer pushed.
    env.seed.delete_secret(prod.folder, "API_KEY").await;
    let job = env.run_sync(billing).await;
    assert_eq!(
        job.status,
        secret_sync::JobStatus::Succeeded,
        "{:?}",
        job.message
    );
    let (status, body) = api
        .get(&format!("{SYNCS}?projectId=proj&key=API_KEY"))
        .await;
    assert_eq!((status, names(&body)), (200, Vec::<String>::new()));
    env.finish().await;
}
