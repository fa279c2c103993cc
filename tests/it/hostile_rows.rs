//! Hostile rows, as other services (or accidents) might leave them: jsonb of
//! the wrong shape, ciphertexts truncated or under another key, tokens with
//! odd bytes, huge values, Unicode. Each gives its own sync a clear failure
//! (or succeeds where the row is valid), and the worker process keeps
//! running and serving the next job.

use std::time::Duration;

use secret_sync::crypto::{generate_key, Aad, Column};
use secret_sync::store::JobRow;
use secret_sync::{Cipher, JobStatus};
use secret_sync_testkit::*;
use serde_json::{json, Value};
use uuid::Uuid;

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");

fn owning(prefix: &str) -> Value {
    json!({
        "initialSyncBehavior": "overwrite-destination",
        "keySchema": format!("{prefix}{{{{secretKey}}}}"),
    })
}

struct Case {
    name: &'static str,
    sync: Uuid,
    /// None: must succeed. Some(words): fails, and the message has them all.
    expect: Option<&'static [&'static str]>,
}

/// A sync of its own (own folder, connection and key prefix) into app `api`.
async fn sync_of(
    env: &TestEnv,
    slug: &str,
    secrets: &[(&str, &str)],
    token: &str,
) -> (Uuid, Source) {
    let src = env.source_with_token(slug, secrets, token).await;
    let prefix = format!("{}_", slug.to_uppercase().replace('-', "_"));
    let sync = env
        .sync(&src, slug, app_scope("api"), owning(&prefix))
        .await;
    (sync, src)
}

async fn set_column(env: &TestEnv, sql: &str, bytes: &[u8], id: Uuid) {
    env.seed
        .client()
        .execute(sql, &[&bytes, &id])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn set_json(env: &TestEnv, column: &str, value: Value, sync: Uuid) {
    env.seed
        .client()
        .execute(
            &format!("UPDATE secret_syncs SET {column} = $1 WHERE id = $2"),
            &[&value, &sync],
        )
        .await
        .expect("update jsonb");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_rows_fail_their_own_sync_clearly_and_the_worker_keeps_going() {
    let env = TestEnv::with(|name| match name {
        "HTTP_RETRIES" => Some("0".into()),
        "JOB_MAX_ATTEMPTS" => Some("1".into()),
        _ => None,
    })
    .await;
    let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hostile-{}.log", Uuid::new_v4().simple()));
    let mut worker = WorkerProcess::spawn(EXE, &env.settings, &[], &log);
    let pid = worker.pid();
    let mut cases = Vec::new();
    let one = [("A", "1")];

    // jsonb of the wrong shape.
    for (name, column, value, words) in [
        (
            "dest-string",
            "destination_config",
            json!("web"),
            &["destination_config"][..],
        ),
        (
            "dest-array",
            "destination_config",
            json!([1, 2]),
            &["destination_config"],
        ),
        (
            "dest-null",
            "destination_config",
            Value::Null,
            &["destination_config"],
        ),
        (
            "dest-types",
            "destination_config",
            json!({"scope": "application", "org": 5, "app": ["api"]}),
            &["destination_config"],
        ),
        // Dot segments would climb out of the values' path (issue 36).
        (
            "dest-dot-env",
            "destination_config",
            json!({"scope": "environment", "org": ORG, "app": "web", "env": ".."}),
            &["destination_config", "`env` cannot be `..`"],
        ),
        (
            "dest-dot-app",
            "destination_config",
            json!({"scope": "application", "org": ORG, "app": "."}),
            &["destination_config", "`app` cannot be `.`"],
        ),
        (
            "opts-string",
            "sync_options",
            json!("fast"),
            &["sync_options"],
        ),
        (
            "opts-types",
            "sync_options",
            json!({"initialSyncBehavior": "overwrite-destination", "keySchema": 42, "disableSecretDeletion": "yes"}),
            &["sync_options"],
        ),
    ] {
        let (sync, _) = sync_of(&env, name, &one, ADMIN_TOKEN).await;
        set_json(&env, column, value, sync).await;
        cases.push(Case {
            name,
            sync,
            expect: Some(words),
        });
    }

    // Ciphertexts: truncated, under another key, not a ciphertext at all.
    let other = Cipher::from_base64_key(&generate_key()).expect("key");
    let value_at = Aad::new("proj", Column::SecretValue);
    let creds_at = Aad::new("proj", Column::ConnectionCredentials);
    let sealed = env.cipher().encrypt_str("a value", value_at);
    let secret_sql = "UPDATE secrets SET encrypted_value = $1 WHERE folder_id = $2";
    for (name, bytes, words) in [
        ("value-truncated", sealed[..20].to_vec(), &["A"][..]),
        (
            "value-other-key",
            other.encrypt_str("a value", value_at),
            &["A", "ENCRYPTION_KEY"],
        ),
        ("value-empty", Vec::new(), &["A"]),
    ] {
        let (sync, src) = sync_of(&env, name, &one, ADMIN_TOKEN).await;
        set_column(&env, secret_sql, &bytes, src.folder).await;
        cases.push(Case {
            name,
            sync,
            expect: Some(words),
        });
    }
    let creds_sql = "UPDATE app_connections SET encrypted_credentials = $1 WHERE id = $2";
    for (name, bytes, words) in [
        (
            "creds-truncated",
            sealed[..30].to_vec(),
            &["connection"][..],
        ),
        (
            "creds-other-key",
            other.encrypt_str(r#"{"apiToken":"t"}"#, creds_at),
            &["connection", "ENCRYPTION_KEY"],
        ),
        (
            "creds-not-json",
            env.cipher().encrypt_str("not json", creds_at),
            &["connection"],
        ),
        (
            "creds-no-token",
            env.cipher().encrypt_str(r#"{"token":"t"}"#, creds_at),
            &["connection"],
        ),
    ] {
        let (sync, src) = sync_of(&env, name, &one, ADMIN_TOKEN).await;
        set_column(&env, creds_sql, &bytes, src.connection).await;
        cases.push(Case {
            name,
            sync,
            expect: Some(words),
        });
    }

    // Tokens with odd bytes.
    let long_token = "t".repeat(10 * 1024);
    for (name, token) in [
        ("token-nul", "sandbox\0admin-token"),
        ("token-newline", "sandbox-admin-token\r\nX-Injected: 1"),
        ("token-10kb", long_token.as_str()),
    ] {
        let (sync, _) = sync_of(&env, name, &one, token).await;
        cases.push(Case {
            name,
            sync,
            expect: Some(&["token"]),
        });
    }

    // Valid but unusual: 1 MB values, Unicode and control characters in values.
    let big = "x".repeat(1024 * 1024);
    let unicode = "pässwörd 🔑 \u{202e}rtl\u{0} nul\ttab\nnewline \"quoted\" \\";
    let (sync, _) = sync_of(&env, "big", &[("BIG", &big)], ADMIN_TOKEN).await;
    cases.push(Case {
        name: "value-1mb",
        sync,
        expect: None,
    });
    let (sync, _) = sync_of(&env, "unicode", &[("U", unicode)], ADMIN_TOKEN).await;
    cases.push(Case {
        name: "value-unicode",
        sync,
        expect: None,
    });
    // A Unicode key Humanitec cannot hold: named, nothing written.
    let (sync, _) = sync_of(
        &env,
        "unikey",
        &[("schlüssel", "1"), ("OK", "1")],
        ADMIN_TOKEN,
    )
    .await;
    cases.push(Case {
        name: "key-unicode",
        sync,
        expect: Some(&["schlüssel", "nothing was written"]),
    });

    let mut jobs = Vec::new();
    for case in &cases {
        jobs.push(env.enqueue(case.sync).await);
    }
    let mut rows: Vec<JobRow> = Vec::new();
    for job in &jobs {
        rows.push(env.wait_job(*job).await);
    }
    assert!(
        worker.is_running(),
        "the worker survived every hostile row; log: {}",
        log.display()
    );
    for (case, row) in cases.iter().zip(&rows) {
        let msg = row.message.clone().unwrap_or_default();
        println!("{:<16} {:<9} {msg}", case.name, row.status.as_str());
        let sync_msg = env
            .sync_row(case.sync)
            .await
            .last_sync_message
            .unwrap_or_default();
        match case.expect {
            None => assert_eq!(row.status, JobStatus::Succeeded, "{}: {msg}", case.name),
            Some(words) => {
                assert_eq!(row.status, JobStatus::Failed, "{}: {msg}", case.name);
                for w in words {
                    assert!(msg.contains(w), "{}: `{w}` missing from: {msg}", case.name);
                }
                assert!(!sync_msg.is_empty(), "{}: the sync row says why", case.name);
            }
        }
        assert!(
            !msg.contains(&long_token) && !msg.contains("sandbox\0admin"),
            "{}: token in message",
            case.name
        );
    }
    let values = env.humanitec_values("api", None);
    assert_eq!(values.get("BIG_BIG").map(String::len), Some(big.len()));
    assert_eq!(values.get("UNICODE_U").map(String::as_str), Some(unicode));
    assert!(
        !values.keys().any(|k| k.starts_with("UNIKEY_")),
        "nothing of the bad-key sync"
    );

    // The same process still serves a good job.
    let (good, _) = sync_of(&env, "after", &one, ADMIN_TOKEN).await;
    let row = env.run_sync(good).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(worker.pid(), pid);
    assert!(worker.is_running());
    worker.terminate(Duration::from_secs(30)).await;
    worker.remove_log();
    env.finish().await;
}
