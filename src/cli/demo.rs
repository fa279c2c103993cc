//! `secret-sync demo`: the whole pipeline, for real, against the sandbox.
//! Needs only local Postgres and RabbitMQ; uses its own database
//! (`secret_sync_demo`, recreated each run) and its own queue prefix.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{enqueue, CliResult};
use crate::config::Settings;
use crate::crypto::{generate_key, Cipher};
use crate::model::JobType;
use crate::queue::JobMessage;
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::store::{self, Store};
use crate::worker::{self, Shared};

const DEMO_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/secret_sync_demo";

pub async fn run() -> CliResult {
    crate::telemetry::init(&crate::config::LogFormat::Text, "warn");
    println!("== secret-sync demo ==");
    let sandbox = Sandbox::start(SandboxConfig::demo(), "127.0.0.1:0".parse()?).await?;
    println!("1. Started humanitec-sandbox at {}", sandbox.base_url());
    // Something already in Humanitec that the syncs must leave alone.
    sandbox.put_value(
        "demo-org",
        "web",
        None,
        "OTHER_KEY",
        "not managed by secret-sync",
        false,
        "",
    );

    let database_url =
        std::env::var("DEMO_DATABASE_URL").unwrap_or_else(|_| DEMO_DATABASE_URL.into());
    store::drop_database(&database_url).await?;
    let prefix = format!(
        "secret-sync-demo-{}.",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let key = std::env::var("ENCRYPTION_KEY").unwrap_or_else(|_| generate_key());
    let sandbox_url = sandbox.base_url();
    let settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "HUMANITEC_API_URL" => Some(sandbox_url.clone()),
        "ENCRYPTION_KEY" => Some(key.clone()),
        "QUEUE_PREFIX" => Some(prefix.clone()),
        "JOB_RETRY_DELAYS" => Some("1s".into()),
        _ => std::env::var(name).ok().filter(|v| !v.is_empty()),
    })?;
    let cipher = Cipher::from_base64_key(&key)?;
    let shared = Shared::build(settings.clone()).await?;
    let store = shared.store.clone();
    println!(
        "2. Created database {} and applied migrations",
        database_url.rsplit('/').next().unwrap_or("?")
    );

    store.create_project("demo-project", "Demo project").await?;
    let folder = store
        .create_folder("demo-project", "production", "/app")
        .await?;
    for (k, v, comment) in [
        (
            "DATABASE_URL",
            "postgres://app:s3cr3t@db:5432/app",
            Some("Primary database"),
        ),
        (
            "API_KEY",
            "sk_live_demo_1234567890",
            Some("Payment provider key"),
        ),
        ("FEATURE_FLAGS", "checkout=on", None),
    ] {
        let comment = comment.map(|c| cipher.encrypt_str(c));
        store
            .put_secret(folder, k, &cipher.encrypt_str(v), comment.as_deref())
            .await?;
    }
    let connection = store
        .create_connection(
            "demo-project",
            "sandbox",
            &cipher.encrypt_str(r#"{"apiToken":"sandbox-admin-token"}"#),
        )
        .await?;
    let options = json!({"initialSyncBehavior": "overwrite-destination"});
    let app_sync = store
        .create_sync(
            "demo-project",
            "api-app",
            folder,
            connection,
            &json!({"scope": "application", "org": "demo-org", "app": "api"}),
            &options,
        )
        .await?;
    let env_sync = store
        .create_sync("demo-project", "web-production", folder, connection,
            &json!({"scope": "environment", "org": "demo-org", "app": "web", "env": "production"}),
            &json!({"initialSyncBehavior": "overwrite-destination", "keySchema": "INFISICAL_{{secretKey}}"}))
        .await?;
    println!("3. Seeded project demo-project, folder production:/app with 3 secrets, a connection, and two syncs:");
    println!("   api-app         -> demo-org/api (app scope)");
    println!("   web-production  -> demo-org/web/production (env scope, key schema INFISICAL_{{{{secretKey}}}})");

    let stop = CancellationToken::new();
    let worker_task = tokio::spawn(worker::run(shared, stop.clone()));
    println!("4. Started the worker (queue prefix {prefix})");

    let mut ok = true;
    println!("5. First sync of both (everything is new):");
    ok &= run_jobs(&settings, &store, &sandbox, &[app_sync, env_sync]).await?;

    store
        .put_secret(
            folder,
            "API_KEY",
            &cipher.encrypt_str("sk_live_demo_rotated"),
            Some(&cipher.encrypt_str("Payment provider key")),
        )
        .await?;
    println!("6. Rotated API_KEY in the source; sync web-production again (expect 1 write):");
    ok &= run_jobs(&settings, &store, &sandbox, &[env_sync]).await?;

    println!("7. Nothing changed; sync web-production again (expect a single GET):");
    ok &= run_jobs(&settings, &store, &sandbox, &[env_sync]).await?;

    println!("\nSync rows:");
    for s in store.sync_statuses(None).await? {
        println!(
            "  {:<15} {:<10} {}",
            s.name,
            s.sync_status.as_deref().unwrap_or("-"),
            s.last_sync_message.as_deref().unwrap_or("")
        );
    }
    println!("\nHumanitec (sandbox) values, secrets masked:");
    for (label, env) in [
        ("demo-org/api", None),
        ("demo-org/web/production", Some("production")),
    ] {
        let app = if env.is_some() { "web" } else { "api" };
        println!("  {label}:");
        for v in sandbox.values("demo-org", app, env) {
            let shown = if v.is_secret {
                format!(
                    "******** ({} chars, secret v{})",
                    v.value.chars().count(),
                    v.secret_version.unwrap_or_default()
                )
            } else {
                v.value.clone()
            };
            println!("    {:<26} {:<4} {}", v.key, v.source, shown);
        }
    }

    stop.cancel();
    let _ = worker_task.await;
    sandbox.shutdown();
    if ok {
        println!("\nDemo succeeded. Try `secret-sync status` with DATABASE_URL={database_url}.");
        Ok(())
    } else {
        Err("demo failed: a job did not succeed (see above)".into())
    }
}

/// Enqueues a sync job for each sync, waits for them, prints the outcome
/// and the Humanitec calls they cost.
async fn run_jobs(
    settings: &Settings,
    store: &Store,
    sandbox: &Sandbox,
    syncs: &[Uuid],
) -> Result<bool, Box<dyn std::error::Error>> {
    sandbox.clear_requests();
    let mut ok = true;
    for &sync_id in syncs {
        let job = JobMessage {
            job_id: None,
            sync_id,
            job_type: JobType::Sync,
            import_behavior: None,
            delete_sync_on_complete: None,
            trigger: Some("demo".into()),
        };
        let job_id = enqueue(settings, &job).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let row = loop {
            if let Some(row) = store.job(job_id).await? {
                if matches!(row.status.as_str(), "succeeded" | "failed" | "skipped") {
                    break Some(row);
                }
            }
            if tokio::time::Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        match row {
            Some(row) => {
                ok &= row.status == "succeeded";
                println!(
                    "   job {job_id}: {} — {}",
                    row.status,
                    row.message.unwrap_or_default()
                );
            }
            None => {
                ok = false;
                println!("   job {job_id}: did not finish within 60 s");
            }
        }
    }
    let requests = sandbox.requests();
    let count = |m: &str| requests.iter().filter(|r| r.method == m).count();
    println!(
        "   Humanitec calls: {} in all ({} GET, {} POST, {} PATCH, {} DELETE)",
        requests.len(),
        count("GET"),
        count("POST"),
        count("PATCH"),
        count("DELETE")
    );
    Ok(ok)
}
