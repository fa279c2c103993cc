//! The only module that talks to Postgres. `migrations/` is the schema's
//! single source; the statements are `.sql` files under `sql/` (one each,
//! in one registry, see `sql/mod.rs`), and the code that binds them and
//! reads their rows is by aggregate: `jobs` (jobs and their sync's lease),
//! `syncs`, `connections`, `folders` (the source secrets), `tokens`,
//! `sessions` (the dashboard's), and `read` (the read models of the
//! `status` command, the dashboard and the gauges).

mod audit;
mod conn;
mod connect_error;
mod connections;
mod database_url;
mod folders;
mod jobs;
mod migrate;
mod notify;
mod page;
mod pauses;
mod read;
mod rotation;
mod schedule;
mod sessions;
pub mod sql;
mod stores;
mod syncs;
mod tokens;
mod workers;
mod written;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use deadpool_postgres::{Hook, HookError, ManagerConfig, Pool, RecyclingMethod, Runtime};

pub use audit::{AuditFilter, AuditRow};
pub use connections::{ConnectionChanges, ConnectionRecord};
pub use database_url::DatabaseUrl;
pub use folders::{EncryptedSecret, FolderLookup, StoredFolder};
pub use jobs::{
    Claim, JobStart, LeaseAttempt, LeaseTake, OrphanFate, OrphanedJob, StaleJob, SyncLease,
};
pub use migrate::{ensure_database, MIGRATIONS};
pub use notify::{AttemptRecord, ChannelInsert, ChannelRecord, ClaimLimits, Delivery, OutboxEvent};
pub use page::Page;
pub use pauses::{Parked, PauseFeed, PauseRow, ReleasedJob};
pub use read::{
    FoundId, HistoryJob, HistoryQuery, JobDetail, JobHistoryRow, JobRow, MinuteCount, SyncDetail,
    SyncFilter, SyncListRow, SyncOrder, SyncPage, SyncSort, SyncStatusRow,
};
pub use rotation::{EncryptedRow, FingerprintRow};
pub use schedule::DueSyncs;
pub use sessions::SessionRecord;
pub use syncs::{DestinationCheck, NewSync, SyncChanges, SyncList};
// Domain types the store reads, re-exported where callers first found them.
pub use crate::model::{FolderRecord, JobState, StartView, SyncRecord, TakenMarker};
pub use stores::{Audit, AuthStore, DashboardReads, JobLedger, KeyRotation, Outbox, SyncRepo};
pub use tokens::ApiTokenRecord;
pub use workers::{FleetWriters, WriterReport};
pub use written::Written;

use crate::model::redact_url as redact;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid DATABASE_URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("could not get a database connection: {0}")]
    Pool(String),
    /// Postgres could not be reached or refused the login.
    #[error("cannot connect to Postgres ({target}): {cause}. To fix: {hint}")]
    Connect {
        target: String,
        cause: String,
        hint: &'static str,
        transient: bool,
    },
    #[error("database error while {action}: {}", connect_error::describe_db_error(.source))]
    Db {
        action: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    /// An answer the query cannot give (a bug, not an outage).
    #[error("unexpected answer from the database while {0}; this is a bug in secret-sync, please report it")]
    Unexpected(&'static str),
    #[error("the database schema is newer than this build (version {found}, this build knows {known}); upgrade secret-sync")]
    SchemaTooNew { found: i32, known: i32 },
}

/// Makes the current transaction's commit return without waiting for the
/// WAL flush. Only for writes that a later durable commit makes durable
/// before anything depends on them (the lease check before a run's first
/// write, `jobs/fence.rs`; its outcome, before the ack): the WAL is flushed in order,
/// so a crash can lose such a write only together with everything after
/// it, and the job then runs again. Transaction-local, so it works
/// through PgBouncer in transaction mode. Saves an fsync per write: the
/// no-op job rate is bounded by commits, not by CPU.
pub(crate) const ASYNC_COMMIT: &str = "SET LOCAL synchronous_commit = off";

/// Set on every new connection when statements are prepared: a prepared
/// statement keeps the plan it got when first run, and a table that was
/// empty then (the queued-job markers when the worker started, the pushed
/// keys on a new install) is cheapest to scan whole, so every later lookup
/// by key would read the whole table, however large it grew: no-op jobs
/// fell from 724/s at 2,000 queued syncs to 515/s at 10,000, and each
/// enqueue scanned every queued marker. Every statement of the job path is
/// a lookup by key, so plans are made with an index whenever one serves;
/// queries without one still scan. JIT compilation goes off with it: the
/// penalty that steers plans away from scans also pushes their cost above
/// `jit_above_cost`, and compiling took 600 ms for a query that finds
/// nothing (it never pays on statements of a few rows anyway).
const PLAN_BY_INDEX: &str = "SET enable_seqscan = off; SET jit = off";

impl StoreError {
    pub(crate) fn db(action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
        move |source| StoreError::Db { action, source }
    }

    /// Lost connections and pool timeouts may pass; constraint or SQL errors won't.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Pool(_) => true,
            StoreError::Connect { transient, .. } => *transient,
            StoreError::Db { source, .. } => {
                source.is_closed()
                    || source.code().is_none_or(|c| {
                        // class 08 connection exception, 40 transaction rollback, 53 resources, 57 operator intervention
                        let class = &c.code()[..2];
                        matches!(class, "08" | "40" | "53" | "57")
                    })
            }
            StoreError::BadUrl { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Unexpected(_) => false,
        }
    }
}

/// What the store's connections are called in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "secret-sync";

/// The database, one small store per consumer over one pool of Postgres
/// connections (`stores.rs`). Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    /// The engine's: jobs, leases, queued markers, schedule, gauges.
    pub ledger: JobLedger,
    /// Syncs, folders, connections, pushed keys.
    pub syncs: SyncRepo,
    /// The dashboard's and the `status` command's read models.
    pub reads: DashboardReads,
    /// API tokens, projects, sessions.
    pub auth: AuthStore,
    /// Notification channels and deliveries.
    pub outbox: Outbox,
    pub audit: Audit,
    /// Key rotation's reads and rewrites.
    pub keys: KeyRotation,
}

/// How to reach the database: `DATABASE_URL`, the pool's size, and
/// `DATABASE_PREPARED_STATEMENTS` (off for PgBouncer in transaction mode
/// before 1.21, see `conn.rs`).
#[derive(Clone, Debug)]
pub struct StoreConfig<'a> {
    pub database_url: &'a str,
    pub max_connections: usize,
    pub prepared_statements: bool,
}

/// The pool every store shares. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Db {
    pool: Pool,
    /// Where DATABASE_URL points (no password), for error messages.
    target: std::sync::Arc<str>,
    /// Prepared statements cached per connection, or unnamed ones (see
    /// `conn.rs`); shared with the hook that sets up new connections.
    prepared: Arc<AtomicBool>,
    /// Statements sent through this pool (by any store).
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// DATABASE_URL, for a connection of its own (`listen_pauses`). Holds
    /// the password: never shown.
    url: std::sync::Arc<str>,
}

impl Store {
    /// The stores over a new pool (connections are made when first used).
    pub fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        Ok(Store::connect(config.database_url, config.max_connections)?
            .with_prepared_statements(config.prepared_statements))
    }

    pub fn connect(database_url: &str, max_size: usize) -> Result<Store, StoreError> {
        let bad_url = |reason: String| StoreError::BadUrl {
            url: redact(database_url),
            reason,
        };
        let url = DatabaseUrl::parse(database_url).map_err(bad_url)?;
        let mut config = url.config().clone();
        // Names its connections in `pg_stat_activity`, unless DATABASE_URL does.
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        let manager = deadpool_postgres::Manager::from_config(
            config,
            url.connector().map_err(bad_url)?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let prepared = Arc::new(AtomicBool::new(true));
        let on_new_connection = prepared.clone();
        let pool = Pool::builder(manager)
            .max_size(max_size.max(2))
            .wait_timeout(Some(std::time::Duration::from_secs(30)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .recycle_timeout(Some(std::time::Duration::from_secs(10)))
            .runtime(Runtime::Tokio1)
            .post_create(Hook::async_fn(move |client, _| {
                let prepared = on_new_connection.load(Ordering::Relaxed);
                Box::pin(async move {
                    if prepared {
                        client
                            .batch_execute(PLAN_BY_INDEX)
                            .await
                            .map_err(HookError::Backend)?;
                    }
                    Ok(())
                })
            }))
            .build()
            .map_err(|e| bad_url(e.to_string()))?;
        let db = Db {
            pool,
            target: connect_error::describe_target(database_url).into(),
            prepared,
            sent: Default::default(),
            url: database_url.into(),
        };
        Ok(Store {
            ledger: JobLedger {
                db: db.clone(),
                completer: Default::default(),
            },
            syncs: SyncRepo { db: db.clone() },
            reads: DashboardReads { db: db.clone() },
            auth: AuthStore { db: db.clone() },
            outbox: Outbox { db: db.clone() },
            audit: Audit { db: db.clone() },
            keys: KeyRotation { db: db.clone() },
            db,
        })
    }

    /// Off for PgBouncer in transaction mode before 1.21 (see `conn.rs`).
    /// Call before the first statement: connections made before keep the
    /// setting they were made with.
    pub fn with_prepared_statements(self, on: bool) -> Store {
        self.db.prepared.store(on, Ordering::Relaxed);
        self
    }

    /// Statements this store (and its clones) has sent, transaction
    /// control (`BEGIN`, `SET LOCAL`, `COMMIT`) and health checks not
    /// counted: what "fewest calls" means on the database side.
    pub fn statements_sent(&self) -> u64 {
        self.db.sent.load(Ordering::Relaxed)
    }

    /// Checks the database answers (readiness probe).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .object()
            .await?
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(StoreError::db("pinging the database"))
    }

    /// Whether the schema is at this build's latest migration (readiness:
    /// a replica started before `migrate` ran must not take traffic).
    pub async fn schema_current(&self) -> Result<bool, StoreError> {
        let client = self.db.object().await?;
        migrate::is_current(&client).await
    }

    /// Applies pending migrations (see `migrate.rs`).
    pub async fn migrate(&self) -> Result<Vec<i32>, StoreError> {
        let mut client = self.db.object().await?;
        migrate::run(&mut client).await
    }
}

impl Db {
    fn prepared(&self) -> bool {
        self.prepared.load(Ordering::Relaxed)
    }

    async fn object(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| connect_error::pool_failed(&self.target, e))
    }

    pub(crate) async fn client(&self) -> Result<conn::Conn, StoreError> {
        Ok(conn::Conn::new(
            self.object().await?,
            self.prepared(),
            self.sent.clone(),
        ))
    }
}
