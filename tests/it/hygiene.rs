//! Secret hygiene: distinctive secret values and tokens go through every
//! job type, successes and failures, with a real worker process logging at
//! `trace` in JSON; then every place the product writes to is searched for
//! them: its logs, job and sync messages, dead letters (bodies and
//! headers), `/metrics`, and every column of every table in the database
//! (bytea columns must not hold them in clear either).

use std::time::Duration;

use humanitec_sandbox::{Fault, Faults, Role, TokenSpec};
use lapin::types::{AMQPValue, FieldTable};
use secret_sync::queue::SecretChanged;
use secret_sync::{ImportBehavior, JobKind, JobStatus};
use secret_sync_testkit::*;
use serde_json::json;
use uuid::Uuid;

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");
const SYNCS: &str = "/api/v1/secret-syncs/humanitec";
const CONNECTIONS: &str = "/api/v1/app-connections/humanitec";

/// Each sync owns its keys (a prefix), so no two fight over a destination.
fn owning(prefix: &str) -> serde_json::Value {
    json!({
        "initialSyncBehavior": "overwrite-destination",
        "keySchema": format!("{prefix}{{{{secretKey}}}}"),
    })
}

/// Where `needle` occurs in `haystack`, with a little context, if at all.
fn leak(haystack: &str, needle: &str) -> Option<String> {
    let at = haystack.find(needle)?;
    let start = haystack[..at]
        .char_indices()
        .rev()
        .nth(120)
        .map_or(0, |(i, _)| i);
    let end = (at + needle.len() + 120).min(haystack.len());
    let end = (end..=haystack.len())
        .find(|i| haystack.is_char_boundary(*i))
        .unwrap_or(haystack.len());
    Some(haystack[start..end].to_string())
}

fn assert_clean(place: &str, text: &str, marker: &str) {
    if let Some(context) = leak(text, marker) {
        panic!("a secret value or token leaked into {place}: …{context}…");
    }
}

fn headers_text(headers: &FieldTable) -> String {
    headers
        .inner()
        .iter()
        .map(|(k, v)| match v {
            AMQPValue::LongString(s) => {
                format!("{k}={}", String::from_utf8_lossy(s.as_bytes()))
            }
            other => format!("{k}={other:?}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every column of every table and view in the database's own schemas that
/// contains `marker`: text-like columns as text, bytea columns as raw bytes.
async fn database_leaks(env: &TestEnv, marker: &str) -> (Vec<String>, usize) {
    let db = env.seed.client();
    let columns = db
        .query(
            "SELECT table_schema, table_name, column_name, data_type
               FROM information_schema.columns
              WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
              ORDER BY 1, 2, 3",
            &[],
        )
        .await
        .expect("columns");
    let mut leaks = Vec::new();
    for c in &columns {
        let (schema, table, column, data_type): (String, String, String, String) =
            (c.get(0), c.get(1), c.get(2), c.get(3));
        let col = format!("\"{column}\"");
        let test = if data_type == "bytea" {
            format!("position(convert_to($1, 'UTF8') in {col}) > 0")
        } else {
            format!("strpos({col}::text, $1) > 0")
        };
        let sql = format!("SELECT count(*) FROM \"{schema}\".\"{table}\" WHERE {test}");
        let hits: i64 = db
            .query_one(&sql, &[&marker])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0);
        if hits > 0 {
            leaks.push(format!(
                "{schema}.{table}.{column} ({data_type}): {hits} row(s)"
            ));
        }
    }
    (leaks, columns.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_or_token_appears_anywhere_the_product_writes() {
    let env = TestEnv::with(|name| match name {
        "HTTP_RETRIES" => Some("1".into()),
        "JOB_MAX_ATTEMPTS" => Some("2".into()),
        "JOB_RETRY_DELAYS" => Some("200ms".into()),
        _ => None,
    })
    .await;
    // Everything secret carries the marker; nothing else does.
    let marker = format!("HYGIENE-{}", Uuid::new_v4().simple());
    let secret = |what: &str| format!("{marker}-SECRET-{what}");
    let good_token = format!("{marker}-TOKEN-good");
    let rejected_token = format!("{marker}-TOKEN-rejected");
    env.sandbox.add_token(TokenSpec {
        token: good_token.clone(),
        org: ORG.into(),
        role: Role::Administrator,
    });

    let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hygiene-{}.log", Uuid::new_v4().simple()));
    let mut worker = WorkerProcess::spawn(
        EXE,
        &env.settings,
        &[("RUST_LOG", "trace".into()), ("LOG_FORMAT", "json".into())],
        &log,
    );
    worker.wait_ready_status(200, Duration::from_secs(30)).await;

    // Sync, app scope and env scope (with a comment on a secret).
    let prod = env
        .source_with_token(
            "production",
            &[("DB_PASSWORD", &secret("db")), ("API_KEY", &secret("api"))],
            &good_token,
        )
        .await;
    env.seed
        .put_secret(
            prod.folder,
            "COMMENTED",
            &secret("commented"),
            Some("a comment"),
        )
        .await;
    let app_sync = env.sync(&prod, "app", app_scope("api"), owning("A_")).await;
    let env_sync = env
        .sync(&prod, "env", env_scope("web", "production"), owning("E_"))
        .await;
    for sync in [app_sync, env_sync] {
        let row = env.run_sync(sync).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    }
    assert_eq!(
        env.sandbox.values(ORG, "api", None).len(),
        3,
        "the secrets reached Humanitec"
    );

    // A secret-change event fans out to the syncs of the folder.
    env.put_secret(prod.folder, "API_KEY", &secret("api-rotated"))
        .await;
    env.client
        .publish_change(&SecretChanged {
            project_id: prod.project.clone(),
            environment: "production".into(),
            path: "/app".into(),
        })
        .await
        .expect("event");
    // The event's sync pushes the rotated value.
    eventually(Duration::from_secs(30), || async {
        let values = env.sandbox.values(ORG, "api", None);
        let keys: Vec<_> = values.iter().map(|v| &v.key).collect();
        let rotated = values.iter().any(|v| v.value == secret("api-rotated"));
        rotated
            .then_some(())
            .ok_or_else(|| format!("no rotated value yet under {keys:?}"))
    })
    .await;

    // Failure: a token Humanitec rejects.
    let rejected = env
        .source_with_token(
            "staging",
            &[("DB_PASSWORD", &secret("staging"))],
            &rejected_token,
        )
        .await;
    let rejected_sync = env
        .sync(
            &rejected,
            "rejected",
            env_scope("web", "staging"),
            owning("R_"),
        )
        .await;
    let row = env.run_sync(rejected_sync).await;
    assert_eq!(row.status, JobStatus::Failed);
    assert!(row.message.as_deref().is_some_and(|m| m.contains("401")));

    // Failure: Humanitec answers 500 to the write carrying the secret (the listing passes).
    let dev = env
        .source_with_token(
            "development",
            &[("DEV_SECRET", &secret("dev"))],
            &good_token,
        )
        .await;
    let failing_sync = env
        .sync(&dev, "failing", app_scope("web"), owning("F_"))
        .await;
    env.sandbox.set_faults(Faults {
        script: vec![Fault::Pass],
        always: Some(Fault::Status {
            status: 500,
            retry_after: None,
        }),
        ..Faults::default()
    });
    let row = env.run_sync(failing_sync).await;
    env.sandbox.set_faults(Faults::default());
    assert_eq!(row.status, JobStatus::Failed);
    assert!(row.message.as_deref().is_some_and(|m| m.contains("500")));
    assert!(
        env.sandbox
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.status == 500),
        "a write carrying a secret failed"
    );

    // Failure: Humanitec's error message quotes the request, value included.
    let echo = env
        .source_with_token("echo", &[("ECHOED", &secret("echoed"))], &good_token)
        .await;
    let echo_sync = env
        .sync(&echo, "echo", app_scope("web"), owning("X_"))
        .await;
    env.sandbox.set_faults(Faults {
        script: vec![Fault::Pass],
        always: Some(Fault::Echo { status: 400 }),
        ..Faults::default()
    });
    let row = env.run_sync(echo_sync).await;
    env.sandbox.set_faults(Faults::default());
    assert_eq!(row.status, JobStatus::Failed);
    assert!(
        row.message.as_deref().is_some_and(|m| m.contains("400")),
        "{:?}",
        row.message
    );
    println!("echoing Humanitec: {}", row.message.unwrap_or_default());

    // Import: readable Humanitec values (distinctive too) into a folder.
    for (k, what) in [("I_IMPORTED_A", "import-a"), ("I_IMPORTED_B", "import-b")] {
        env.put_humanitec("web", None, &[(k, &secret(what), false)]);
    }
    let imports = env.source_with_token("imports", &[], &good_token).await;
    let import_sync = env
        .sync(&imports, "import", app_scope("web"), owning("I_"))
        .await;
    let row = env
        .run_job(
            import_sync,
            JobKind::Import {
                behavior: ImportBehavior::PrioritizeDestination,
            },
        )
        .await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(
        env.seed
            .folder_values(imports.folder)
            .await
            .get("IMPORTED_A"),
        Some(&secret("import-a")),
        "the import wrote the value (encrypted) into the source"
    );

    // Remove.
    let row = env
        .run_job(
            app_sync,
            JobKind::Remove {
                delete_sync_on_complete: false,
            },
        )
        .await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert!(env.sandbox.values(ORG, "api", None).is_empty());

    // Poison: a job body of the wrong shape for a real sync.
    let poison = json!({"type": "import", "syncId": env_sync, "importBehavior": 7});
    env.publish_raw("import", poison.to_string().as_bytes())
        .await;
    let (body, headers) = env.take_dead_letter().await.expect("dead letter");
    let mut dead = vec![(body, headers)];
    dead.extend(env.drain_dead_letters().await);

    // The HTTP API, as its own process at trace level: a connection and a
    // sync made over HTTP, rejected tokens, and every read.
    let api_hum_token = format!("{marker}-TOKEN-api");
    env.sandbox.add_token(TokenSpec {
        token: api_hum_token.clone(),
        org: ORG.into(),
        role: Role::Administrator,
    });
    let bearer = env.api_token(&["proj"], "write").await;
    let api_log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hygiene-api-{}.log", Uuid::new_v4().simple()));
    let mut api_process = WorkerProcess::spawn_with(
        EXE,
        &["api"],
        &env.settings,
        &[("RUST_LOG", "trace".into()), ("LOG_FORMAT", "json".into())],
        &api_log,
    );
    api_process
        .wait_status("/healthz", 200, Duration::from_secs(30))
        .await;
    let api = ApiClient::new(
        &format!("http://{}", api_process.http),
        Some(&bearer),
        std::sync::Arc::new(SeedContract::load()),
    );
    let mut responses = Vec::new();
    let connection = |token: &str, name: &str| {
        json!({"name": name, "projectId": "proj", "method": "api-token",
               "credentials": {"apiToken": token}})
    };
    let (status, body) = api
        .post(CONNECTIONS, connection(&api_hum_token, "api-conn"))
        .await;
    assert_eq!(status, 200, "{body}");
    let conn_id = body["appConnection"]["id"]
        .as_str()
        .expect("connection id")
        .to_string();
    responses.push(body);
    let rejected_api_token = format!("{marker}-TOKEN-api-rejected");
    let (status, body) = api
        .post(CONNECTIONS, connection(&rejected_api_token, "api-rejected"))
        .await;
    assert_eq!(status, 400, "{body}");
    responses.push(body);
    let (status, body) = api
        .patch(
            &format!("{CONNECTIONS}/{conn_id}"),
            json!({"credentials": {"apiToken": rejected_api_token}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    responses.push(body);
    let (status, body) = api
        .post(
            SYNCS,
            json!({
                "name": "api-sync", "projectId": "proj", "connectionId": conn_id,
                "environment": "production", "secretPath": "/app/",
                "syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "P_{{secretKey}}"},
                "destinationConfig": app_scope("api"),
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let api_sync = body["secretSync"]["id"]
        .as_str()
        .expect("sync id")
        .to_string();
    responses.push(body);
    let (status, body) = api
        .post(&format!("{SYNCS}/{api_sync}/sync-secrets"), json!({}))
        .await;
    assert!(status == 200 || status == 202, "{status}: {body}");
    responses.push(body);
    // The sync made over HTTP succeeds.
    eventually(Duration::from_secs(30), || async {
        let sync = api.get(&format!("{SYNCS}/{api_sync}")).await.1["secretSync"].clone();
        seen(sync, |s| s["syncStatus"] == "succeeded")
    })
    .await;
    for path in [
        format!("{SYNCS}/{api_sync}"),
        format!("{SYNCS}?projectId=proj"),
        format!("{CONNECTIONS}/{conn_id}"),
        format!("{CONNECTIONS}?projectId=proj"),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        responses.push(body);
    }
    // The preview is not a seed-contract body: read it as it comes.
    let preview = api
        .http
        .get(format!("{}{SYNCS}/{api_sync}/preview", api.base))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("preview answers");
    assert_eq!(preview.status(), 200);
    let preview: serde_json::Value = preview.json().await.expect("preview JSON");
    assert!(preview.to_string().contains("P_DB_PASSWORD"), "{preview}");
    responses.push(preview);
    assert!(
        env.sandbox
            .values(ORG, "api", None)
            .iter()
            .any(|v| v.key == "P_DB_PASSWORD" && v.value == secret("db")),
        "the sync made over HTTP pushed the secrets"
    );
    let api_exit = api_process.terminate(Duration::from_secs(30)).await;
    assert!(api_exit.is_some(), "the API process stops on SIGTERM");
    let api_logs = std::fs::read_to_string(&api_log).expect("API log");
    assert!(
        api_logs.contains("\"level\":\"TRACE\""),
        "API trace logging was on"
    );
    let responses_count = responses.len();
    let responses = serde_json::to_string(&responses).expect("json");

    // The operator's commands, at trace level too.
    let mut cli_output = String::new();
    for args in [
        vec!["status".to_string(), "--json".into()],
        vec!["status".to_string()],
        vec!["preview".to_string(), env_sync.to_string(), "--json".into()],
        vec!["preview".to_string(), env_sync.to_string()],
    ] {
        let out = tokio::process::Command::new(EXE)
            .args(&args)
            .envs(env.product_env())
            .env("RUST_LOG", "trace")
            .output()
            .await
            .expect("cli runs");
        // `status` exits 2 when some sync failed (some did, on purpose).
        let expected = if args[0] == "status" { 2 } else { 0 };
        assert_eq!(out.status.code(), Some(expected), "{args:?}: {out:?}");
        cli_output.push_str(&String::from_utf8_lossy(&out.stdout));
        cli_output.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        cli_output.contains("E_DB_PASSWORD"),
        "the preview names keys"
    );
    // Key rotation re-encrypts every secret and token: its output too.
    let old_key = env.settings.encryption_key.clone().unwrap_or_default();
    let new_key = secret_sync::crypto::generate_key();
    for json in [false, true] {
        let out = tokio::process::Command::new(EXE)
            .arg("rotate-key")
            .args(json.then_some("--json"))
            .envs(env.product_env())
            .env("ENCRYPTION_KEY", &new_key)
            .env("ENCRYPTION_KEY_PREVIOUS", &old_key)
            .env("RUST_LOG", "trace")
            .output()
            .await
            .expect("rotate-key runs");
        assert!(out.status.success(), "rotate-key: {out:?}");
        cli_output.push_str(&String::from_utf8_lossy(&out.stdout));
        cli_output.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    let rotated: Vec<u8> = env
        .seed
        .client()
        .query_one(
            "SELECT encrypted_value FROM secrets WHERE key = 'DB_PASSWORD' AND folder_id = $1",
            &[&prod.folder],
        )
        .await
        .expect("secret row")
        .get(0);
    let new_cipher = secret_sync::Cipher::from_base64_key(&new_key).expect("key");
    assert_eq!(
        new_cipher
            .decrypt_string(
                &rotated,
                secret_sync::crypto::Aad::new(
                    &prod.project,
                    secret_sync::crypto::Column::SecretValue
                ),
            )
            .ok(),
        Some(secret("db")),
        "rotate-key re-encrypted under the new key"
    );

    // Everything is done: read what the product wrote.
    let (status, metrics) = worker.get("/metrics").await.expect("/metrics answers");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("secret_sync"),
        "metrics are there: {metrics}"
    );
    let exit = worker.terminate(Duration::from_secs(30)).await;
    assert!(exit.is_some_and(|e| e.success()), "worker exits cleanly");
    let logs = std::fs::read_to_string(&log).expect("worker log");

    // The capture itself worked: trace-level JSON lines of these jobs.
    assert!(logs.contains("\"level\":\"TRACE\""), "trace logging was on");
    assert!(
        logs.contains(&row.id.to_string()),
        "the jobs are in the log"
    );
    assert!(
        logs.contains(&app_sync.to_string()),
        "the syncs are in the log"
    );

    assert_clean("the worker's logs", &logs, &marker);
    assert_clean("/metrics", &metrics, &marker);
    assert_clean("the API's responses", &responses, &marker);
    assert_clean("the API's logs", &api_logs, &marker);
    assert_clean(
        "the output of `status`, `preview` and `rotate-key`",
        &cli_output,
        &marker,
    );
    for (body, headers) in &dead {
        assert_clean(
            "a dead letter's body",
            &String::from_utf8_lossy(body),
            &marker,
        );
        assert_clean("a dead letter's headers", &headers_text(headers), &marker);
    }
    let messages = env
        .seed
        .client()
        .query("SELECT coalesce(message, '') FROM secret_sync_jobs", &[])
        .await
        .expect("job messages");
    assert!(messages.len() >= 8, "{} job rows", messages.len());
    for m in &messages {
        assert_clean("a job message", m.get(0), &marker);
    }
    for sync in [
        app_sync,
        env_sync,
        rejected_sync,
        failing_sync,
        echo_sync,
        import_sync,
    ] {
        let row = env.sync_row(sync).await;
        assert_clean("a sync row's messages", &format!("{:?}", row), &marker);
    }
    let (leaks, columns) = database_leaks(&env, &marker).await;
    assert!(leaks.is_empty(), "found in the database: {leaks:#?}");
    // The scan would have seen a leak: plant one in a text and a bytea column.
    env.seed
        .execute_sql(&format!(
            "UPDATE projects SET name = 'x{marker}x';
             UPDATE secrets SET encrypted_comment = convert_to('{marker}', 'UTF8') WHERE key = 'COMMENTED'"
        ))
        .await;
    let (planted, _) = database_leaks(&env, &marker).await;
    assert!(
        planted
            .iter()
            .any(|l| l.starts_with("public.projects.name"))
            && planted
                .iter()
                .any(|l| l.starts_with("public.secrets.encrypted_comment")),
        "{planted:#?}"
    );
    println!(
        "hygiene: {} worker and {} API log lines ({} KB), {} API responses, {} dead letter(s), {} job rows, {columns} columns scanned: no secret value or token found",
        logs.lines().count(),
        api_logs.lines().count(),
        (logs.len() + api_logs.len()) / 1024,
        responses_count,
        dead.len(),
        messages.len()
    );
    worker.remove_log();
    api_process.remove_log();
    env.finish().await;
}
