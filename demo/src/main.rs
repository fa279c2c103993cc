//! The demo: the whole pipeline, for real, against the Humanitec sandbox.
//!
//! `cargo run --profile demo -p demo` (a profile without the optimiser: the
//! quickest first build). Needs only local Postgres and RabbitMQ; uses its
//! own database (`secret_sync_demo`, recreated each run, or
//! `DEMO_DATABASE_URL`) and its own queue prefix on the local RabbitMQ (or
//! `AMQP_URL`), whose queues and exchanges it deletes when it ends (Ctrl-C
//! included). Not part of the production binary: it lives here, with the
//! sandbox and the test kit.
//!
//! `-- --serve`: after the story, keep the sandbox, the worker and the API
//! (with the dashboard) running, print the dashboard's URL and a read and a
//! write token, and stop cleanly on Ctrl-C.

use std::time::Duration;

use secret_sync::config::LogFormat;
use secret_sync::queue::SecretChanged;
use secret_sync::{JobKind, JobStatus};
use secret_sync_testkit::{TestEnv, ADMIN_TOKEN};
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

const DEMO_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/secret_sync_demo";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    secret_sync::init_logging(&LogFormat::Text, "warn");
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let serve = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--serve") => true,
        Some(other) => {
            return Err(format!("unknown argument `{other}`; the only one is --serve").into())
        }
    };
    #[cfg(not(feature = "serve"))]
    if serve {
        return with_serve_feature().await;
    }
    // From here on Ctrl-C stops the demo in order: the worker, then the
    // demo's queues and exchanges (the database stays, for a look at it).
    let (interrupt, interrupted) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = interrupt.send(true);
        }
    });
    println!("== secret-sync demo ==");
    let database_url =
        std::env::var("DEMO_DATABASE_URL").unwrap_or_else(|_| DEMO_DATABASE_URL.into());
    let prefix = format!(
        "secret-sync-demo-{}.",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let mut env = TestEnv::named(&database_url, &prefix, |name| match name {
        "JOB_RETRY_DELAYS" => Some("1s".into()),
        // Unset: the local RabbitMQ (the product's default AMQP_URL).
        "ENCRYPTION_KEY" | "AMQP_URL" => std::env::var(name).ok().filter(|v| !v.is_empty()),
        _ => None,
    })
    .await;
    let outcome = tokio::select! {
        biased;
        ok = story(&mut env, &database_url, &prefix, serve, interrupted.clone()) => ok,
        () = until_interrupted(interrupted) => {
            println!("\nInterrupted: stopping the worker.");
            Err("interrupted (Ctrl-C)".into())
        }
    };
    // Keep the database so `secret-sync status` can read it afterwards;
    // the queues and exchanges go (the worker first: it would declare them).
    env.stop().await;
    env.delete_queues().await;
    println!("Deleted the demo's queues and exchanges (prefix {prefix}).");
    if outcome? {
        println!("\nDemo succeeded. Try `secret-sync status` with DATABASE_URL={database_url}.");
        Ok(())
    } else {
        Err("demo failed: a job did not succeed (see above)".into())
    }
}

/// Returns once Ctrl-C was pressed (never, if it cannot be watched).
async fn until_interrupted(mut interrupted: watch::Receiver<bool>) {
    if interrupted.wait_for(|pressed| *pressed).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The demo's story (and `--serve`'s wait); whether every job succeeded.
#[cfg_attr(not(feature = "serve"), allow(unused_variables))]
async fn story(
    env: &mut TestEnv,
    database_url: &str,
    prefix: &str,
    serve: bool,
    interrupted: watch::Receiver<bool>,
) -> Result<bool, Box<dyn std::error::Error>> {
    let sandbox = &env.sandbox;
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
    println!(
        "2. Created database {} and applied migrations",
        database_url.rsplit('/').next().unwrap_or("?")
    );

    let seed = &env.seed;
    seed.create_project("demo-project", "Demo project").await;
    let folder = seed
        .create_folder("demo-project", "production", "/app")
        .await;
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
        seed.put_secret(folder, k, v, comment).await;
    }
    let connection = seed
        .create_connection("demo-project", "sandbox", ADMIN_TOKEN)
        .await;
    let app_sync = seed
        .create_sync(
            "demo-project",
            "api-app",
            folder,
            connection,
            &json!({"scope": "application", "org": "demo-org", "app": "api"}),
            &json!({"initialSyncBehavior": "overwrite-destination"}),
        )
        .await;
    let env_sync = seed
        .create_sync(
            "demo-project",
            "web-production",
            folder,
            connection,
            &json!({"scope": "environment", "org": "demo-org", "app": "web", "env": "production"}),
            &json!({"initialSyncBehavior": "overwrite-destination", "keySchema": "INFISICAL_{{secretKey}}"}),
        )
        .await;
    println!("3. Seeded project demo-project, folder production:/app with 3 secrets, a connection, and two syncs:");
    println!("   api-app         -> demo-org/api (app scope)");
    println!("   web-production  -> demo-org/web/production (env scope, key schema INFISICAL_{{{{secretKey}}}})");

    env.start_worker().await;
    println!("4. Started the worker (queue prefix {prefix})");

    let mut ok = true;
    println!("5. First sync of both (everything is new):");
    ok &= run_jobs(env, &[app_sync, env_sync]).await?;

    env.seed
        .put_secret(
            folder,
            "API_KEY",
            "sk_live_demo_rotated",
            Some("Payment provider key"),
        )
        .await;
    println!("6. Rotated API_KEY in the source; sync web-production again (expect 1 write):");
    ok &= run_jobs(env, &[env_sync]).await?;

    println!("7. Nothing changed; sync web-production again (expect a single GET):");
    ok &= run_jobs(env, &[env_sync]).await?;

    ok &= auto_sync(env, folder, app_sync, env_sync).await?;

    println!("\nSync rows:");
    for s in env.store.reads.sync_statuses(None).await? {
        println!(
            "  {:<15} {:<10} {}",
            s.name,
            s.sync_status.map_or("-", |st| st.as_str()),
            s.last_sync_message.as_deref().unwrap_or("")
        );
    }
    println!("\nHumanitec (sandbox) values, secrets masked:");
    for (label, app, env_id) in [
        ("demo-org/api", "api", None),
        ("demo-org/web/production", "web", Some("production")),
    ] {
        println!("  {label}:");
        for v in env.sandbox.values("demo-org", app, env_id) {
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

    #[cfg(feature = "serve")]
    if serve && ok {
        serve_dashboard(env, interrupted).await?;
    }
    Ok(ok)
}

/// The plain demo is built without the API (a smaller first build);
/// `--serve` runs it again through Cargo with the `serve` feature (built
/// once, then cached). Ctrl-C reaches both processes; this one waits for
/// the other to stop and exits as it did.
#[cfg(not(feature = "serve"))]
async fn with_serve_feature() -> Result<(), Box<dyn std::error::Error>> {
    let cargo = std::env::var("CARGO").map_err(|_| {
        "`--serve` needs the demo's `serve` feature: run `cargo run --profile demo -p demo \
         --features serve -- --serve`"
    })?;
    println!("Building the demo with the API and dashboard (the first time only)...");
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut child = tokio::process::Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--profile",
            "demo",
            "--manifest-path",
            manifest,
        ])
        .args(["-p", "demo", "--features", "serve", "--", "--serve"])
        .spawn()?;
    // Ctrl-C is the other process's to handle; this one only waits.
    tokio::spawn(async {
        loop {
            if tokio::signal::ctrl_c().await.is_err() {
                break;
            }
        }
    });
    let status = child.wait().await?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the demo with --serve ended with {status}").into())
    }
}

#[cfg(feature = "serve")]
/// Keeps the sandbox and the worker running, starts the API (the router
/// `secret-sync api` serves, dashboard included) and waits for Ctrl-C.
async fn serve_dashboard(
    env: &mut TestEnv,
    interrupted: watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error>> {
    let base = env.start_api().await;
    let read = env.api_token(&["demo-project"], "read").await;
    let write = env.api_token(&["demo-project"], "write").await;
    println!("\nServing (sandbox, worker and API keep running):");
    println!("  Dashboard:   {base}/");
    println!("  Read token:  {read}");
    println!("  Write token: {write}");
    println!("  Sign in with a token (demo tokens of project demo-project, made for this run).");
    println!("  Press Ctrl-C to stop.");
    until_interrupted(interrupted).await;
    println!("\nStopping: the worker finishes its jobs, then the sandbox and the API stop.");
    Ok(())
}

/// Auto-sync: a burst of secret-change events for the folder costs the
/// auto-sync sync one or two runs, which catch up with the final source.
async fn auto_sync(
    env: &TestEnv,
    folder: Uuid,
    auto: Uuid,
    manual: Uuid,
) -> Result<bool, Box<dyn std::error::Error>> {
    env.seed
        .execute_sql(&format!(
            "UPDATE secret_syncs SET is_auto_sync_enabled = (id = '{auto}') WHERE id IN ('{auto}', '{manual}')"
        ))
        .await;
    env.seed
        .put_secret(folder, "FEATURE_FLAGS", "checkout=on,search=beta", None)
        .await;
    env.sandbox.clear_requests();
    let event = SecretChanged {
        project_id: "demo-project".into(),
        environment: "production".into(),
        path: "/app".into(),
    };
    for _ in 0..50 {
        env.client.publish_change(&event).await?;
    }
    println!(
        "8. Auto-sync: api-app has auto-sync on, web-production off. Changed FEATURE_FLAGS and"
    );
    println!(
        "   published 50 secret-change events for production:/app (`secret-sync publish-change`):"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = env.store.reads.recent_jobs(Some(auto), 10).await?;
        let auto_jobs: Vec<_> = jobs
            .iter()
            .filter(|j| j.trigger.as_deref() == Some("auto-sync"))
            .collect();
        let absorbed: i32 = auto_jobs.iter().map(|j| j.coalesced).sum();
        if absorbed == 50 && auto_jobs.iter().all(|j| j.status.is_final()) {
            for j in &auto_jobs {
                println!(
                    "   job {}: {} — {}",
                    j.id,
                    j.status,
                    j.message.as_deref().unwrap_or("")
                );
            }
            let requests = env.sandbox.requests();
            println!(
                "   {} auto-sync job(s) for 50 events; Humanitec calls: {} ({} GET); web-production: {} jobs",
                auto_jobs.len(),
                requests.len(),
                requests.iter().filter(|r| r.method == "GET").count(),
                env.store
                    .reads.recent_jobs(Some(manual), 10)
                    .await?
                    .iter()
                    .filter(|j| j.trigger.as_deref() == Some("auto-sync"))
                    .count()
            );
            return Ok(auto_jobs.iter().all(|j| j.status == JobStatus::Succeeded));
        }
        if tokio::time::Instant::now() > deadline {
            println!("   auto-sync did not catch up within 60 s");
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Enqueues a sync job for each sync, waits for them, prints the outcome
/// and the Humanitec calls they cost.
async fn run_jobs(env: &TestEnv, syncs: &[Uuid]) -> Result<bool, Box<dyn std::error::Error>> {
    env.sandbox.clear_requests();
    let mut ok = true;
    for &sync_id in syncs {
        let job_id = env.client.enqueue(sync_id, JobKind::SYNC, "demo").await?;
        match env.client.wait(job_id, Duration::from_secs(60)).await {
            Ok(row) => {
                ok &= row.status == JobStatus::Succeeded;
                println!(
                    "   job {job_id}: {} — {}",
                    row.status,
                    row.message.unwrap_or_default()
                );
            }
            Err(e) => {
                ok = false;
                println!("   {e}");
            }
        }
    }
    let requests = env.sandbox.requests();
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
