//! Key rotation under load: workers keep syncing while `rotate-key` runs;
//! afterwards everything decrypts under the new key alone and nothing under
//! the old one, and fingerprints follow (an unchanged sync costs one GET).

use std::collections::BTreeSet;

use secret_sync::crypto::generate_key;
use secret_sync::jobs::rotate::rotate_key;
use secret_sync::jobs::JobContext;
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
            assert_eq!(
                report.secrets.rewritten + report.secrets.left + report.secrets.current,
                120
            );
            assert_eq!(report.connections.rewritten, 1);
            let f = report.fingerprints;
            assert_eq!(f.rewritten + f.current + f.left, 120);
            assert!(f.rewritten >= 20, "the idle sync's fingerprints: {f:?}");
            assert!(report.unreadable_ids.is_empty());
            // Resumable: a second run finds nothing left to do.
            let again = rotate_key(&ctx, |_, _| {}).await.expect("rotation again");
            assert_eq!(
                (again.secrets.rewritten, again.connections.rewritten),
                (0, 0)
            );
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
            new.decrypt(blob).is_ok(),
            "every blob decrypts under the new key"
        );
        assert!(old.decrypt(blob).is_err(), "none under the old key");
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
