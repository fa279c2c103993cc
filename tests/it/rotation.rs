//! Key rotation and the bound layout (0x02):
//! - under load: workers keep syncing while `rotate-key` runs; afterwards
//!   everything decrypts under the new key alone and nothing under the old
//!   one, and fingerprints follow (an unchanged sync costs one GET);
//! - every encrypted column of the migrated schema is one `rotate-key`
//!   rewrites (a new one fails the schema test until it is covered);
//! - notification channels (rows of the old layout 0x01 too) still deliver
//!   after the rotation and the removal of the old key;
//! - a 0x02 ciphertext copied into another project's row (or another
//!   column) fails with an error naming table, column and row; 0x01 rows
//!   still read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use hmac::{KeyInit, Mac};
use secret_sync::crypto::{generate_key, layout_version, Aad, Column, FORMAT_V2};
use secret_sync::jobs::rotate::{encrypted_tables, rotate_key};
use secret_sync::jobs::JobContext;
use secret_sync::store::Written;
use secret_sync::{Cipher, JobStatus};
use secret_sync_testkit::*;
use uuid::Uuid;

#[tokio::test]
async fn rotation_under_load_leaves_nothing_under_the_old_key() {
    let old_key = generate_key();
    let new_key = generate_key();
    let old_for_env = old_key.clone();
    let mut env = TestEnv::with(move |name| match name {
        "ENCRYPTION_KEY" => Some(old_for_env.clone()),
        _ => None,
    })
    .await;
    env.seed.create_project("proj", "Project").await;
    let connection = env
        .seed
        .create_connection("proj", "conn", ADMIN_TOKEN)
        .await;
    let mut syncs = Vec::new();
    for i in 0..6 {
        let folder = env
            .seed
            .create_folder("proj", "production", &format!("/f{i}"))
            .await;
        for k in 0..20 {
            env.seed
                .put_secret(folder, &format!("K{k}"), &format!("v{i}-{k}"), Some("note"))
                .await;
        }
        let schema = format!("S{i}_{{{{secretKey}}}}");
        let options = serde_json::json!({"initialSyncBehavior": "overwrite-destination", "keySchema": schema});
        syncs.push(
            env.seed
                .create_sync(
                    "proj",
                    &format!("s{i}"),
                    folder,
                    connection,
                    &app_scope("api"),
                    &options,
                )
                .await,
        );
    }
    env.start_worker().await;
    for &sync in &syncs {
        let row = env.run_sync(sync).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    }

    // Every process moves to the new key, still reading the old one.
    env.settings.encryption_key = Some(new_key.clone());
    env.settings.encryption_key_previous = Some(old_key.clone());
    env.stop_workers().await;
    env.start_worker().await;
    let mut jobs: Vec<Uuid> = Vec::new();
    env.sandbox.clear_requests();
    // The last sync stays idle: only the rotation can re-key its fingerprints.
    let (busy, idle) = syncs.split_at(5);
    let idle = idle[0];
    for round in 0..3 {
        for &sync in busy {
            jobs.push(env.enqueue(sync).await);
        }
        if round == 0 {
            let ctx = JobContext::from_settings(&env.settings, env.store.clone()).expect("context");
            let report = rotate_key(&ctx, |_, _| {}).await.expect("rotation");
            println!("rotation under load: {report:?}");
            let secrets = report.table("secrets");
            assert_eq!(secrets.rewritten + secrets.left + secrets.current, 120);
            assert_eq!(report.table("app_connections").rewritten, 1);
            let f = report.fingerprints;
            assert_eq!(f.rewritten + f.current + f.left, 120);
            assert!(f.rewritten >= 20, "the idle sync's fingerprints: {f:?}");
            assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
            // Resumable: a second run finds nothing left to do.
            let again = rotate_key(&ctx, |_, _| {}).await.expect("rotation again");
            assert!(again.tables.values().all(|t| t.rewritten == 0), "{again:?}");
        }
    }
    for job in jobs {
        let row = env.wait_job(job).await;
        assert!(
            matches!(row.status, JobStatus::Succeeded | JobStatus::Skipped),
            "{:?}: {:?}",
            row.status,
            row.message
        );
    }

    let writes = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(writes, 0, "a rotation costs no Humanitec write");

    let new = Cipher::from_base64_key(&new_key).expect("key");
    let old = Cipher::from_base64_key(&old_key).expect("key");
    let blobs = env.seed.encrypted_blobs().await;
    assert_eq!(
        blobs.len(),
        6 * 20 * 2 + 1,
        "values, comments and the connection"
    );
    for blob in &blobs {
        assert!(
            new.decrypt(&blob.data, blob.aad()).is_ok(),
            "every blob decrypts under the new key"
        );
        assert!(
            old.decrypt(&blob.data, blob.aad()).is_err(),
            "none under the old key"
        );
        assert_eq!(layout_version(&blob.data), Some(FORMAT_V2));
    }

    // Fingerprints were re-keyed: a sync with nothing changed costs one GET.
    env.settings.encryption_key_previous = None;
    env.stop_workers().await;
    env.start_worker().await;
    env.sandbox.clear_requests();
    let row = env.run_sync(idle).await;
    assert_eq!(
        (row.status, row.unchanged),
        (JobStatus::Succeeded, 20),
        "{:?}",
        row.message
    );
    let methods: BTreeSet<String> = env
        .sandbox
        .requests()
        .iter()
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, BTreeSet::from(["GET".to_string()]));
    env.finish().await;
}

/// Columns of the migrated schema that hold bytes but no ciphertext, and
/// why. Any other `bytea` column, or any column named like `encrypted`, must
/// be one `rotate-key` rewrites (a `crypto::Column`).
const NOT_CIPHERTEXT: &[(&str, &str)] = &[
    ("api_tokens.token_hash", "a hash of a bearer token: nothing to decrypt"),
    ("dashboard_sessions.id_hash", "a hash of a session id: nothing to decrypt"),
    (
        "secret_sync_pushed_keys.fingerprint",
        "an HMAC under a key derived from ENCRYPTION_KEY: re-keyed by rotate-key's fingerprint pass",
    ),
    (
        "secret_sync_humanitec_writers.token_key",
        "an HMAC of a token's hash under the fingerprint key, in rows rewritten every quarter \
         second and gone within a minute: a rotation re-keys them by itself",
    ),
];

#[tokio::test]
async fn every_encrypted_column_of_the_schema_is_rotated() {
    let env = TestEnv::new().await;
    let rows = env
        .seed
        .client()
        .query(
            "SELECT c.table_name::text, c.column_name::text, c.data_type::text
               FROM information_schema.columns c
               JOIN information_schema.tables t
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name
              WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
                AND (c.data_type = 'bytea' OR c.column_name ILIKE '%encrypt%'
                     OR c.column_name ILIKE '%cipher%' OR c.column_name ILIKE '%sealed%')",
            &[],
        )
        .await
        .expect("information_schema");
    let found: BTreeMap<String, String> = rows
        .iter()
        .map(|r| {
            let (table, column): (String, String) = (r.get(0), r.get(1));
            (format!("{table}.{column}"), r.get(2))
        })
        .collect();
    let rotated: BTreeSet<String> = encrypted_tables()
        .into_iter()
        .flat_map(|(_, columns)| columns)
        .map(|c| c.to_string())
        .collect();
    let exempt: BTreeSet<String> = NOT_CIPHERTEXT.iter().map(|(c, _)| c.to_string()).collect();
    for (column, data_type) in &found {
        if rotated.contains(column) {
            assert_eq!(data_type, "bytea", "{column} holds ciphertexts");
            continue;
        }
        assert!(
            exempt.contains(column) && !column.contains("encrypt"),
            "{column} ({data_type}) looks like it holds encrypted data, but rotate-key does not \
             rewrite it: add it to crypto::Column (and bind it at every call site), or, if it \
             holds no ciphertext, to NOT_CIPHERTEXT with the reason"
        );
    }
    for column in rotated.iter().chain(&exempt) {
        assert!(
            found.contains_key(column),
            "{column} is not in the schema any more"
        );
    }
    println!("encrypted columns rotated: {rotated:?}; other byte columns: {exempt:?}");
    env.finish().await;
}

/// A local receiver for webhook deliveries: headers and raw body of each.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    state.got.lock().expect("lock").push((headers, body));
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn messages(&self) -> Vec<(HeaderMap, String)> {
        self.got.lock().expect("lock").clone()
    }
}

/// The documented signature: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
fn signed_with(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    let Some(sig) = headers
        .get("x-secret-sync-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let part = |name: &str| {
        sig.split(',')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_default()
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{}.{body}", part("t")).as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == part("v1")
}

async fn insert_channel(
    env: &TestEnv,
    project: &str,
    name: &str,
    url: Vec<u8>,
    secret: Vec<u8>,
) -> Uuid {
    match env
        .store
        .outbox
        .insert_channel(project, name, "webhook", &url, Some(&secret), &[])
        .await
        .expect("channel")
    {
        Written::Done(c) => c.id,
        other => panic!("channel: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_still_deliver_after_rotation_and_removal_of_the_old_key() {
    let old_key = generate_key();
    let new_key = generate_key();
    let old_for_env = old_key.clone();
    let mut env = TestEnv::with(move |name| match name {
        "ENCRYPTION_KEY" => Some(old_for_env.clone()),
        "NOTIFY_ALLOW_PRIVATE_TARGETS" => Some("true".into()),
        "NOTIFY_DIGEST_WINDOW" => Some("200ms".into()),
        _ => None,
    })
    .await;
    let old = Cipher::from_base64_key(&old_key).expect("key");
    let (receiver, url) = Receiver::start().await;
    // A connection Humanitec refuses: the sync fails, and its owners are told.
    let bad = env
        .source_with_token("production", &[("K", "v4lue")], "revoked-token")
        .await;
    env.seed
        .put_secret(bad.folder, "C", "commented", Some("a note"))
        .await;
    let secret = "a-signing-secret-of-32-characters";
    // One channel as a writer before layout 0x02 stored it (0x01, unbound),
    // one as the product stores it (0x02, bound to its project).
    let legacy = insert_channel(
        &env,
        "proj",
        "legacy",
        old.encrypt_v1(url.as_bytes()),
        old.encrypt_v1(secret.as_bytes()),
    )
    .await;
    let bound = insert_channel(
        &env,
        "proj",
        "bound",
        old.encrypt_str(&url, Aad::new("proj", Column::ChannelUrl)),
        old.encrypt_str(secret, Aad::new("proj", Column::ChannelSecret)),
    )
    .await;

    // Every process moves to the new key, reading the old one; rotate.
    env.settings.encryption_key = Some(new_key.clone());
    env.settings.encryption_key_previous = Some(old_key.clone());
    let ctx = JobContext::from_settings(&env.settings, env.store.clone()).expect("context");
    let report = rotate_key(&ctx, |_, _| {}).await.expect("rotation");
    println!("rotation: {report:?}");
    assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
    let channels = report.table("notification_channels");
    assert_eq!(
        (channels.rewritten, channels.from_v1),
        (2, 1),
        "{channels:?}"
    );
    assert_eq!(report.table("secrets").rewritten, 2);
    assert_eq!(report.table("app_connections").rewritten, 1);
    let again = rotate_key(&ctx, |_, _| {}).await.expect("rotation again");
    assert!(again.tables.values().all(|t| t.rewritten == 0), "{again:?}");

    // Every encrypted column was seen and rewritten: 0x02, the new key only.
    let new = Cipher::from_base64_key(&new_key).expect("key");
    let blobs = env.seed.encrypted_blobs().await;
    let columns: BTreeSet<Column> = blobs.iter().map(|b| b.column).collect();
    assert_eq!(columns, Column::ALL.into_iter().collect());
    for blob in &blobs {
        assert!(
            new.is_current(&blob.data, blob.aad()),
            "{} row {}",
            blob.column,
            blob.id
        );
        assert!(old.decrypt(&blob.data, blob.aad()).is_err());
    }

    // The old key is removed everywhere.
    env.settings.encryption_key_previous = None;
    env.start_worker().await;
    // Through the store: both channels' URL and secret read under the new key alone.
    let stored = env.store.outbox.channels("proj").await.expect("channels");
    assert_eq!(stored.len(), 2);
    for ch in &stored {
        assert!([legacy, bound].contains(&ch.id));
        let at = |column| Aad::new(&ch.project_id, column);
        let read_url = new.decrypt_string(&ch.encrypted_url, at(Column::ChannelUrl));
        assert_eq!(read_url.ok().as_deref(), Some(url.as_str()), "{}", ch.name);
        let sealed = ch.encrypted_secret.as_deref().unwrap_or_default();
        let read_secret = new.decrypt_string(sealed, at(Column::ChannelSecret));
        assert_eq!(read_secret.ok().as_deref(), Some(secret), "{}", ch.name);
    }

    // And they deliver: one signed message per channel.
    let sync = env.sync(&bad, "broken", app_scope("web"), options()).await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Failed, "{:?}", row.message);
    let got = eventually(Duration::from_secs(30), || async {
        seen(receiver.messages(), |m| m.len() >= 2)
    })
    .await;
    for (headers, body) in &got {
        assert!(body.contains("\"failed\""), "{body}");
        assert!(signed_with(secret, headers, body), "signed with the secret");
    }
    let failing = env
        .seed
        .numbers("SELECT count(*) FROM notification_channels WHERE failing_since IS NOT NULL")
        .await;
    assert_eq!(failing, vec![0.0], "no channel failed to decrypt");
    env.finish().await;
}

#[tokio::test]
async fn a_ciphertext_copied_into_another_project_fails_and_old_rows_still_read() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let cipher = env.cipher().clone();
    let sql = env.sql().await;

    // Project `proj`, as a writer before layout 0x02 stored it: 0x01 rows.
    let src = env.source("production", &[("A", "placeholder")]).await;
    let old_value = cipher.encrypt_v1(b"from-an-old-writer");
    let old_creds = cipher.encrypt_v1(format!(r#"{{"apiToken":"{ADMIN_TOKEN}"}}"#).as_bytes());
    sql.execute(
        "UPDATE secrets SET encrypted_value = $1 WHERE folder_id = $2",
        &[&old_value, &src.folder],
    )
    .await
    .expect("0x01 secret");
    sql.execute(
        "UPDATE app_connections SET encrypted_credentials = $1 WHERE id = $2",
        &[&old_creds, &src.connection],
    )
    .await
    .expect("0x01 credentials");
    let sync = env
        .sync(&src, "old-rows", app_scope("api"), options())
        .await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(
        env.humanitec_values("api", None)
            .get("A")
            .map(String::as_str),
        Some("from-an-old-writer"),
        "0x01 rows still read"
    );

    // Project `other`: its secret's row gets a value sealed for `proj`.
    env.seed.create_project("other", "Other").await;
    let folder = env.seed.create_folder("other", "production", "/app").await;
    env.seed.put_secret(folder, "B", "other's own", None).await;
    let conn = env
        .seed
        .create_connection("other", "conn", ADMIN_TOKEN)
        .await;
    let copied_sync = env
        .seed
        .create_sync(
            "other",
            "copied",
            folder,
            conn,
            &app_scope("web"),
            &options(),
        )
        .await;
    let proj_value = "a-value-of-proj";
    let for_proj = cipher.encrypt_str(proj_value, Aad::new("proj", Column::SecretValue));
    sql.execute(
        "UPDATE secrets SET encrypted_value = $1 WHERE folder_id = $2",
        &[&for_proj, &folder],
    )
    .await
    .expect("copied ciphertext");
    let row = env.run_sync(copied_sync).await;
    assert_eq!(row.status, JobStatus::Failed, "{:?}", row.message);
    let message = row.message.unwrap_or_default();
    println!("copied across projects: {message}");
    for words in [
        "secret `B`",
        "`secrets.encrypted_value` of project `other`",
        "another project or column",
    ] {
        assert!(message.contains(words), "{words}: {message}");
    }
    assert!(!message.contains(proj_value) && !message.contains("proj`"));
    assert!(
        env.humanitec_values("web", None).is_empty(),
        "nothing was written"
    );

    // Another column of the same project: a comment sealed as a value.
    let own = cipher.encrypt_str("note", Aad::new("other", Column::SecretValue));
    sql.execute(
        "UPDATE secrets SET encrypted_value = $1, encrypted_comment = $2 WHERE folder_id = $3",
        &[
            &cipher.encrypt_str("v", Aad::new("other", Column::SecretValue)),
            &own,
            &folder,
        ],
    )
    .await
    .expect("copied column");
    let row = env.run_sync(copied_sync).await;
    assert_eq!(row.status, JobStatus::Failed, "{:?}", row.message);
    let message = row.message.unwrap_or_default();
    assert!(
        message.contains("`secrets.encrypted_comment` of project `other`"),
        "{message}"
    );

    // A channel's URL copied across: its store record does not decrypt.
    let sealed_url = cipher.encrypt_str(
        "https://203.0.113.10/hook",
        Aad::new("proj", Column::ChannelUrl),
    );
    let secret = cipher.encrypt_str("s", Aad::new("other", Column::ChannelSecret));
    insert_channel(&env, "other", "copied", sealed_url, secret).await;
    let stored = env.store.outbox.channels("other").await.expect("channels");
    let ch = stored.first().expect("the channel");
    let err = cipher
        .decrypt_string(
            &ch.encrypted_url,
            Aad::new(&ch.project_id, Column::ChannelUrl),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("`notification_channels.encrypted_url` of project `other`"),
        "{err}"
    );
    assert!(!err.contains("203.0.113.10"));

    // rotate-key (same key: the layout only) rewrites the 0x01 rows as 0x02
    // and names what it cannot read by table, column and id, untouched.
    let ctx = JobContext::from_settings(&env.settings, env.store.clone()).expect("context");
    let report = rotate_key(&ctx, |_, _| {}).await.expect("rotation");
    println!("layout rotation: {report:?}");
    assert_eq!(report.table("secrets").from_v1, 1);
    assert_eq!(report.table("app_connections").from_v1, 1);
    assert!(!report.rekeyed_fingerprints);
    let b_id: Uuid = sql
        .query_one("SELECT id FROM secrets WHERE folder_id = $1", &[&folder])
        .await
        .expect("row")
        .get(0);
    let unreadable: BTreeSet<(String, Uuid)> = report
        .unreadable
        .iter()
        .map(|u| (u.column.clone(), u.id))
        .collect();
    assert_eq!(
        unreadable,
        BTreeSet::from([
            ("secrets.encrypted_comment".to_string(), b_id),
            ("notification_channels.encrypted_url".to_string(), ch.id),
        ])
    );
    for blob in env.seed.encrypted_blobs().await {
        if blob.project == "proj" {
            assert!(cipher.is_current(&blob.data, blob.aad()), "{}", blob.column);
        }
    }
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    env.finish().await;
}
