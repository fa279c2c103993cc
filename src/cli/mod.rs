//! The `secret-sync` command line.

mod demo;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::Settings;
use crate::model::{ImportBehavior, JobType};
use crate::queue::{self, declare_topology, JobMessage, Names, Publisher};
use crate::store::Store;
use crate::worker::{self, Shared};

#[derive(Parser)]
#[command(
    name = "secret-sync",
    version,
    about = "Keeps Humanitec shared values in step with a secrets manager"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker (jobs, secret-change events, /healthz, /readyz, /metrics).
    Run,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Publish a job and print its id.
    Enqueue {
        #[arg(value_enum)]
        job_type: JobTypeArg,
        sync_id: Uuid,
        /// Import jobs: which side wins for keys present on both.
        #[arg(long, value_enum)]
        import_behavior: Option<ImportBehaviorArg>,
        /// Remove jobs: delete the sync row once the remove succeeded.
        #[arg(long)]
        delete_sync_on_complete: bool,
        #[arg(long, default_value = "manual")]
        trigger: String,
    },
    /// Show syncs and their latest jobs.
    Status {
        #[arg(long)]
        sync: Option<Uuid>,
        #[arg(long, default_value_t = 10)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the whole pipeline against the sandbox and show what happened.
    Demo,
    /// Print a new random ENCRYPTION_KEY.
    Keygen,
}

#[derive(Clone, Copy, ValueEnum)]
enum JobTypeArg {
    Sync,
    Import,
    Remove,
}

#[derive(Clone, Copy, ValueEnum)]
enum ImportBehaviorArg {
    PrioritizeSource,
    PrioritizeDestination,
}

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

pub async fn main(cli: Cli) -> CliResult {
    match cli.command {
        Command::Keygen => {
            println!("{}", crate::crypto::generate_key());
            Ok(())
        }
        Command::Demo => demo::run().await,
        Command::Migrate => {
            let settings = Settings::from_env()?;
            crate::telemetry::init(&settings.log_format, "info");
            let created = crate::store::ensure_database(&settings.database_url).await?;
            let store = Store::connect(&settings.database_url, 2)?;
            let applied = store.migrate().await?;
            println!(
                "database {}; migrations applied: {}",
                if created { "created" } else { "exists" },
                if applied.is_empty() {
                    "none (up to date)".to_string()
                } else {
                    format!("{applied:?}")
                }
            );
            Ok(())
        }
        Command::Run => {
            let settings = Settings::from_env()?;
            crate::telemetry::init(&settings.log_format, "info,lapin=warn");
            run_worker(settings).await
        }
        Command::Enqueue {
            job_type,
            sync_id,
            import_behavior,
            delete_sync_on_complete,
            trigger,
        } => {
            let settings = Settings::from_env()?;
            let job_type = match job_type {
                JobTypeArg::Sync => JobType::Sync,
                JobTypeArg::Import => JobType::Import,
                JobTypeArg::Remove => JobType::Remove,
            };
            let import_behavior = match (job_type, import_behavior) {
                (JobType::Import, None) => return Err(
                    "import jobs need --import-behavior prioritize-source|prioritize-destination"
                        .into(),
                ),
                (_, b) => b.map(|b| match b {
                    ImportBehaviorArg::PrioritizeSource => ImportBehavior::PrioritizeSource,
                    ImportBehaviorArg::PrioritizeDestination => {
                        ImportBehavior::PrioritizeDestination
                    }
                }),
            };
            let job = JobMessage {
                job_id: None,
                sync_id,
                job_type,
                import_behavior,
                delete_sync_on_complete: (job_type == JobType::Remove)
                    .then_some(delete_sync_on_complete),
                trigger: Some(trigger),
            };
            let job_id = enqueue(&settings, &job).await?;
            println!("{job_id}");
            Ok(())
        }
        Command::Status { sync, limit, json } => {
            let settings = Settings::from_env()?;
            let store = Store::connect(&settings.database_url, 2)?;
            let syncs = store.sync_statuses(sync).await?;
            let jobs = store.recent_jobs(sync, limit).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"syncs": syncs, "jobs": jobs})
                    )?
                );
            } else {
                print_status(&syncs, &jobs);
            }
            Ok(())
        }
    }
}

/// Publishes a job with confirms, and marks the sync pending when the
/// database is reachable (the worker works without that mark).
pub async fn enqueue(
    settings: &Settings,
    job: &JobMessage,
) -> Result<Uuid, Box<dyn std::error::Error>> {
    let names = Names::new(&settings.queue_prefix);
    let connection = queue::connect(&settings.amqp_url, "secret-sync enqueue").await?;
    let channel = connection.create_channel().await?;
    declare_topology(&channel, &names).await?;
    let publisher = Publisher::new(&connection, names).await?;
    let job_id = publisher.publish_job(job).await?;
    if let Ok(store) = Store::connect(&settings.database_url, 2) {
        if let Err(e) = store
            .record_enqueued(job_id, job.sync_id, job.job_type, job.trigger.as_deref())
            .await
        {
            eprintln!("warning: job published, but the sync row could not be marked pending: {e}");
        }
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(job_id)
}

async fn run_worker(settings: Settings) -> CliResult {
    let listen = settings.worker.http_listen;
    let shared = Shared::build(settings).await?;
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| worker::WorkerError::Listen {
            addr: listen,
            source,
        })?;
    tracing::info!(%listen, "health and metrics on http://{listen}/healthz, /readyz, /metrics");
    let router = crate::http::health_router(crate::http::HealthState {
        store: shared.store.clone(),
        broker_connected: shared.broker_connected.clone(),
        metrics: shared.metrics.clone(),
    });
    let http = tokio::spawn(crate::http::serve(listener, router, shutdown.clone()));
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    worker::run(shared, shutdown.clone()).await?;
    shutdown.cancel();
    let _ = http.await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Cancels `token` on SIGTERM or SIGINT.
async fn cancel_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested; finishing in-flight jobs");
    token.cancel();
}

fn print_status(syncs: &[crate::store::SyncStatusRow], jobs: &[crate::store::JobRow]) {
    println!("{:<36}  {:<20}  {:<10}  MESSAGE", "SYNC", "NAME", "STATUS");
    for s in syncs {
        println!(
            "{:<36}  {:<20}  {:<10}  {}",
            s.id,
            s.name,
            s.sync_status.as_deref().unwrap_or("-"),
            s.last_sync_message.as_deref().unwrap_or("")
        );
    }
    println!();
    println!(
        "{:<36}  {:<6}  {:<9}  {:>3}  {:>3}/{:>3}/{:>3}/{:>3}  MESSAGE",
        "JOB", "TYPE", "STATUS", "TRY", "C", "U", "D", "="
    );
    for j in jobs {
        println!(
            "{:<36}  {:<6}  {:<9}  {:>3}  {:>3}/{:>3}/{:>3}/{:>3}  {}",
            j.id,
            j.job_type,
            j.status,
            j.attempt,
            j.created,
            j.updated,
            j.deleted,
            j.unchanged,
            j.message.as_deref().unwrap_or("")
        );
    }
}
