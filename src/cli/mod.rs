//! The `secret-sync` command line: argument definitions and dispatch. Each
//! command's work lives in its own file or in the library.

mod api;
mod dead;
mod pause;
mod preview;
mod rotate;
mod run;
mod status;
mod token;

pub use status::FailedSyncs;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::config::Settings;
use crate::engine::JobClient;
use crate::model::{Actor, AuditEntry, ImportBehavior, JobKind, JobStatus};
use crate::store::Store;

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
        /// Sync jobs: a one-off cleanup that also deletes destination keys
        /// the key schema matches but this sync never pushed (see `preview`).
        #[arg(long)]
        prune_unmanaged: bool,
        #[arg(long, default_value = "manual")]
        trigger: String,
        /// Wait until the job is final and print its outcome; exits non-zero
        /// unless it succeeded. Takes a duration (`30s`, `2m`).
        #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "5m", value_parser = humantime::parse_duration)]
        wait: Option<Duration>,
    },
    /// Show syncs and their latest jobs. Exits 0 when no sync is failed,
    /// 2 when any sync's latest sync, import or remove job failed (for cron
    /// and monitoring checks), 1 when the status could not be read.
    Status {
        #[arg(long)]
        sync: Option<Uuid>,
        #[arg(long, default_value_t = 10)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show what the next sync job would do (keys to create, update and
    /// why, delete, leave; keys the sync does not manage), without writing.
    Preview {
        sync_id: Uuid,
        /// Preview a `--prune-unmanaged` sync job.
        #[arg(long)]
        prune_unmanaged: bool,
        #[arg(long)]
        json: bool,
    },
    /// Re-encrypt every encrypted column under ENCRYPTION_KEY in layout 0x02,
    /// reading with ENCRYPTION_KEY_PREVIOUS (resumable; safe while workers run).
    RotateKey {
        #[arg(long)]
        json: bool,
    },
    /// Print a new random ENCRYPTION_KEY.
    Keygen,
    /// Serve the HTTP API (secret syncs, app connections) on API_LISTEN.
    Api,
    /// Manage the API's bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Inspect the dead-letter queue: list, requeue or discard messages.
    #[command(subcommand)]
    Dead(dead::DeadCommand),
    /// Hold every Humanitec write of one connection or of the whole
    /// instance (an incident, a change freeze): jobs of its syncs wait as
    /// `paused` (at most one per sync), running ones stop before their next
    /// write; previews still work. Recorded with the reason and who paused.
    Pause {
        #[command(flatten)]
        target: pause::Target,
        /// Why (one line, at most 500 characters): shown on the console,
        /// in job messages and the audit log.
        #[arg(long)]
        reason: String,
        /// Who pauses (default: $USER); recorded as `cli (<by>)`.
        #[arg(long)]
        by: Option<String>,
    },
    /// End a pause: the jobs that waited run, at most one per sync, with
    /// the latest source.
    Resume {
        #[command(flatten)]
        target: pause::Target,
        /// Who resumes (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// List the active pauses (who, since when, why).
    Pauses {
        #[arg(long)]
        json: bool,
    },
    /// Publish a secret-change event for a folder, as the secrets manager
    /// does: auto-sync syncs reading it catch up.
    PublishChange {
        project_id: String,
        /// Environment slug.
        environment: String,
        /// Folder path, e.g. `/` or `/app/db`.
        path: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; prints it once.
    Create {
        /// A project the token may access (repeat for more; not for admin).
        #[arg(long = "project")]
        projects: Vec<String>,
        /// read: GET only; write: everything in its projects; admin:
        /// instance-wide (every project, queues, workers, all dead letters).
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A label to recognise the token by.
        #[arg(long, default_value = "api-token")]
        name: String,
    },
    /// List tokens (never their values), with their live dashboard sessions.
    List,
    /// Revoke a token at once; its dashboard sessions end with it.
    Revoke { id: Uuid },
    /// A token's live dashboard sessions (when opened, last seen, ending;
    /// never their ids).
    Sessions { id: Uuid },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Read,
    Write,
    Admin,
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
        Command::Migrate => {
            let settings = Settings::from_env()?;
            crate::telemetry::init(&settings.log_format, "info");
            let created = crate::store::ensure_database(&settings.database_url).await?;
            let store = Store::open(&settings.store(2))?;
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
            let settings = Settings::from_env_with_key()?;
            let telemetry = crate::telemetry::init_service(
                &settings.log_format,
                "info,lapin=warn",
                "secret-sync-worker",
            );
            let result = run::run_worker(settings).await;
            telemetry.shutdown().await;
            result
        }
        Command::Enqueue {
            job_type,
            sync_id,
            import_behavior,
            delete_sync_on_complete,
            prune_unmanaged,
            trigger,
            wait,
        } => {
            let kind = match (job_type, import_behavior) {
                (JobTypeArg::Sync, _) => JobKind::Sync { prune_unmanaged },
                (JobTypeArg::Import, Some(b)) => JobKind::Import {
                    behavior: match b {
                        ImportBehaviorArg::PrioritizeSource => ImportBehavior::PrioritizeSource,
                        ImportBehaviorArg::PrioritizeDestination => {
                            ImportBehavior::PrioritizeDestination
                        }
                    },
                },
                (JobTypeArg::Import, None) => return Err(
                    "import jobs need --import-behavior prioritize-source|prioritize-destination"
                        .into(),
                ),
                (JobTypeArg::Remove, _) => JobKind::Remove {
                    delete_sync_on_complete,
                },
            };
            let settings = Settings::from_env()?;
            let store = Store::open(&settings.store(2))?;
            let project = store.syncs.load_sync(sync_id).await?.map(|s| s.project_id);
            let client = JobClient::connect(&settings, store).await?;
            let job_id = client
                .enqueue_as(sync_id, kind, &trigger, Some(Actor::Cli.label()))
                .await?;
            println!("{job_id}");
            let action = match kind {
                JobKind::Sync { .. } => "sync.trigger",
                JobKind::Import { .. } => "sync.import",
                JobKind::Remove { .. } => "sync.remove",
            };
            let mut entry = AuditEntry::new(Actor::Cli, action, "sync")
                .target(sync_id)
                .changes([format!("job:{job_id}")]);
            entry.project_id = project;
            dead::record_cli_audit(&settings, &entry).await;
            let result = match wait {
                None => Ok(()),
                Some(timeout) => {
                    let row = client.wait(job_id, timeout).await?;
                    println!("{}: {}", row.status, row.message.unwrap_or_default());
                    if row.status == JobStatus::Succeeded {
                        Ok(())
                    } else {
                        Err(format!("job {job_id} ended {}", row.status).into())
                    }
                }
            };
            client.close().await;
            result
        }
        Command::Preview {
            sync_id,
            prune_unmanaged,
            json,
        } => {
            let settings = Settings::from_env_with_key()?;
            preview::print(&settings, sync_id, prune_unmanaged, json).await
        }
        Command::RotateKey { json } => {
            let settings = Settings::from_env_with_key()?;
            rotate::run(&settings, json).await
        }
        Command::Api => {
            let settings = Settings::from_env_with_key()?;
            let telemetry = crate::telemetry::init_service(
                &settings.log_format,
                "info,lapin=warn",
                "secret-sync-api",
            );
            let result = api::run_api(settings).await;
            telemetry.shutdown().await;
            result
        }
        Command::Token { command } => {
            let settings = Settings::from_env()?;
            crate::store::ensure_database(&settings.database_url).await?;
            let store = Store::open(&settings.store(2))?;
            store.migrate().await?;
            match command {
                TokenCommand::Create {
                    projects,
                    role,
                    name,
                } => {
                    let role = match role {
                        RoleArg::Read => crate::web::auth::Role::Read,
                        RoleArg::Write => crate::web::auth::Role::Write,
                        RoleArg::Admin => crate::web::auth::Role::Admin,
                    };
                    token::create(&store, &projects, role, &name).await
                }
                TokenCommand::List => token::list(&store, &settings).await,
                TokenCommand::Sessions { id } => token::sessions(&store, &settings, id).await,
                TokenCommand::Revoke { id } => token::revoke(&store, id).await,
            }
        }
        Command::PublishChange {
            project_id,
            environment,
            path,
        } => {
            let settings = Settings::from_env()?;
            let store = Store::open(&settings.store(2))?;
            let client = JobClient::connect(&settings, store).await?;
            let event = crate::queue::SecretChanged {
                project_id,
                environment,
                path: crate::model::normalize_path(&path),
            };
            let result = client.publish_change(&event).await;
            client.close().await;
            result?;
            println!(
                "published secret.changed for project {} environment {} folder {}",
                event.project_id, event.environment, event.path
            );
            Ok(())
        }
        Command::Status { sync, limit, json } => {
            let settings = Settings::from_env()?;
            let store = Store::open(&settings.store(2))?;
            status::print(&store, sync, limit, json).await
        }
        Command::Pause { target, reason, by } => {
            let store = pause_store().await?;
            pause::pause(&store, &target, &reason, by).await
        }
        Command::Resume { target, by } => {
            let store = pause_store().await?;
            pause::resume(&store, &target, by).await
        }
        Command::Pauses { json } => {
            let store = pause_store().await?;
            pause::list(&store, json).await
        }
        Command::Dead(command) => {
            let settings = Settings::from_env()?;
            dead::run(&settings, command).await
        }
    }
}

/// The store a pause command uses (the schema migrated: it may be the
/// first command run against a new database).
async fn pause_store() -> Result<Store, Box<dyn std::error::Error>> {
    let settings = Settings::from_env()?;
    let store = Store::open(&settings.store(2))?;
    store.migrate().await?;
    Ok(store)
}
