//! The test harness (zero-to-production's `spawn_app`): a database, a queue
//! prefix and a Humanitec sandbox of its own, and workers run in-process,
//! against the real local Postgres and RabbitMQ. Nothing here is a mock
//! except Humanitec (the sandbox).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use humanitec_sandbox::{Sandbox, SandboxConfig};
use lapin::message::Delivery;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use secret_sync::crypto::generate_key;
use secret_sync::engine::BeforeRun;
use secret_sync::http::metrics::JobLabels;
use secret_sync::jobs::{preview_sync, JobContext, Preview};
use secret_sync::queue::Names;
use secret_sync::store::{JobRow, SyncRecord, SyncStatusRow};
use secret_sync::worker::{self, Shared, WorkerError};
use secret_sync::{Cipher, JobClient, JobKind, Settings, Store};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::{deadlocks, drop_database, recreate_database};
use crate::eventually::{eventually, try_eventually};
use crate::seed::Seeder;

pub const ORG: &str = "demo-org";
pub const ADMIN_TOKEN: &str = "sandbox-admin-token";

/// How long `wait_job` waits for a job to be final.
pub const JOB_WAIT: Duration = Duration::from_secs(30);

pub struct TestEnv {
    pub settings: Settings,
    pub store: Store,
    pub seed: Seeder,
    pub sandbox: Sandbox,
    pub names: Names,
    pub client: JobClient,
    stop: CancellationToken,
    workers: Vec<tokio::task::JoinHandle<Result<(), WorkerError>>>,
    /// The metrics of the last worker started (what its /metrics serves).
    pub metrics: Option<secret_sync::http::Metrics>,
    /// The store of the last worker started (its statement count).
    pub worker_store: Option<Store>,
    /// Deletes the prefix's queues and exchanges, and the test's database,
    /// when the env is dropped unfinished (a test that panics). Last:
    /// dropped after the rest.
    cleanup: BrokerCleanup,
}

/// A source ready to sync: project, folder, connection.
pub struct Source {
    pub project: String,
    pub folder: Uuid,
    pub connection: Uuid,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        Self::with(|_| None).await
    }

    /// `overrides` may set any configuration variable.
    pub async fn with(overrides: impl Fn(&str) -> Option<String>) -> TestEnv {
        let id = Uuid::new_v4().simple().to_string();
        let db = format!("postgres://postgres@127.0.0.1:5432/test_{id}");
        Self::named(&db, &format!("test-{id}."), overrides).await
    }

    /// A harness on the database `database_url` (recreated empty) and the
    /// queue prefix `prefix`. Test defaults keep retries short.
    pub async fn named(
        database_url: &str,
        prefix: &str,
        overrides: impl Fn(&str) -> Option<String>,
    ) -> TestEnv {
        Self::with_sandbox(database_url, prefix, SandboxConfig::demo(), overrides).await
    }

    /// As `named`, with the sandbox's orgs, apps and tokens given.
    pub async fn with_sandbox(
        database_url: &str,
        prefix: &str,
        sandbox: SandboxConfig,
        overrides: impl Fn(&str) -> Option<String>,
    ) -> TestEnv {
        let sandbox = Sandbox::start(sandbox, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("sandbox starts");
        let key = overrides("ENCRYPTION_KEY").unwrap_or_else(generate_key);
        let url = sandbox.base_url();
        let settings = Settings::from_lookup(|name| {
            overrides(name).or_else(|| match name {
                "DATABASE_URL" => Some(database_url.to_string()),
                "HUMANITEC_API_URL" => Some(url.clone()),
                "ENCRYPTION_KEY" => Some(key.clone()),
                "QUEUE_PREFIX" => Some(prefix.to_string()),
                "HTTP_RETRY_MIN_DELAY" => Some("20ms".into()),
                "HTTP_RETRY_MAX_DELAY" => Some("100ms".into()),
                "JOB_RETRY_DELAYS" => Some("300ms".into()),
                "SYNC_BUSY_DELAY" => Some("200ms".into()),
                "HUMANITEC_TIMEOUT" => Some("5s".into()),
                // Scheduled reconciles only where a test asks for them: a
                // slot falling inside another test would add a run to it.
                "SYNC_RECONCILE_INTERVAL" => Some("0s".into()),
                _ => None,
            })
        })
        .expect("test settings are valid");
        recreate_database(&settings.database_url)
            .await
            .expect("test database");
        let names = Names::new(&settings.queue_prefix);
        // Before anything declares the topology: from here on, whatever
        // happens, the prefix's queues and exchanges go at the end.
        let mut cleanup = BrokerCleanup::new(&settings, &names);
        cleanup.database_url = Some(settings.database_url.clone());
        let store = Store::connect(&settings.database_url, 8).expect("pool");
        store.migrate().await.expect("migrations");
        let cipher = Cipher::from_base64_key(&key).expect("key");
        // Declares the topology, so publishes before a worker starts are kept.
        let client = JobClient::connect(&settings, store.clone())
            .await
            .expect("broker");
        TestEnv {
            seed: Seeder::connect(&settings.database_url, cipher).await,
            names,
            client,
            settings,
            store,
            sandbox,
            stop: cleanup.root.child_token(),
            workers: Vec::new(),
            metrics: None,
            worker_store: None,
            cleanup,
        }
    }

    #[cfg(feature = "web")]
    /// Starts the HTTP API in-process on a free port (stopped with the
    /// workers); returns its base URL.
    pub async fn start_api(&mut self) -> String {
        let state = secret_sync::web::ApiState::build(&self.settings)
            .await
            .expect("API builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = secret_sync::web::router(state);
        tokio::spawn(secret_sync::http::serve(
            listener,
            router,
            self.stop.clone(),
        ));
        format!("http://{addr}")
    }

    #[cfg(feature = "web")]
    /// A new API token limited to `projects` with `role` (`read`/`write`).
    pub async fn api_token(&self, projects: &[&str], role: &str) -> String {
        let (token, hash) = secret_sync::web::auth::new_token();
        let projects: Vec<String> = projects.iter().map(|p| p.to_string()).collect();
        self.store
            .auth
            .create_api_token("test", &hash, role, &projects, &[])
            .await
            .expect("token");
        token
    }

    /// The variables that point a `secret-sync` process (the real binary)
    /// at this harness: its database, broker prefix, sandbox and key, its
    /// retry and timing settings, and a free port for health and metrics.
    /// Use with `Command::envs`.
    pub fn product_env(&self) -> Vec<(&'static str, String)> {
        let mut vars = crate::process::worker_env(&self.settings);
        vars.push(("HTTP_LISTEN", "127.0.0.1:0".into()));
        vars
    }

    pub fn cipher(&self) -> &Cipher {
        self.seed.cipher()
    }

    /// Starts one more in-process worker with the harness's settings.
    pub async fn start_worker(&mut self) {
        let shared = Shared::build(self.settings.clone())
            .await
            .expect("worker builds");
        // A sync named `test-hook:panic` panics when its job runs: the
        // product has no such switch; the hook is the test kit's.
        let panics: BeforeRun = Arc::new(|sync: &SyncRecord| {
            if sync.name == "test-hook:panic" {
                panic!("test hook: this sync panics");
            }
        });
        let _ = shared.runner.before_run.set(panics);
        self.metrics = Some(shared.metrics.clone());
        self.worker_store = Some(shared.store.clone());
        let running = tokio::spawn(worker::run(shared, self.stop.clone()));
        self.cleanup.workers.push(running.abort_handle());
        self.workers.push(running);
    }

    pub async fn source(&self, env_slug: &str, secrets: &[(&str, &str)]) -> Source {
        self.source_with_token(env_slug, secrets, ADMIN_TOKEN).await
    }

    pub async fn source_with_token(
        &self,
        env_slug: &str,
        secrets: &[(&str, &str)],
        token: &str,
    ) -> Source {
        let project = "proj".to_string();
        self.seed.create_project(&project, "Project").await;
        let folder = self.seed.create_folder(&project, env_slug, "/app").await;
        for (k, v) in secrets {
            self.put_secret(folder, k, v).await;
        }
        let connection = self
            .seed
            .create_connection(&project, &format!("conn-{}", Uuid::new_v4()), token)
            .await;
        Source {
            project,
            folder,
            connection,
        }
    }

    /// The usual start: a source in `production` holding `A=1`, and a sync
    /// `s` of it to app `api`.
    pub async fn one_sync(&self) -> (Source, Uuid) {
        let src = self.source("production", &[("A", "1")]).await;
        let sync = self.sync(&src, "s", app_scope("api"), options()).await;
        (src, sync)
    }

    pub async fn put_secret(&self, folder: Uuid, key: &str, value: &str) {
        self.seed.put_secret(folder, key, value, None).await;
    }

    pub async fn sync(&self, src: &Source, name: &str, destination: Value, options: Value) -> Uuid {
        self.seed
            .create_sync(
                &src.project,
                name,
                src.folder,
                src.connection,
                &destination,
                &options,
            )
            .await
    }

    /// Enqueues a sync job (trigger `test`) through the product's one enqueue path.
    pub async fn enqueue(&self, sync_id: Uuid) -> Uuid {
        self.enqueue_kind(sync_id, JobKind::SYNC).await
    }

    pub async fn enqueue_kind(&self, sync_id: Uuid, kind: JobKind) -> Uuid {
        self.client
            .enqueue(sync_id, kind, "test")
            .await
            .expect("enqueue")
    }

    /// Enqueues a sync job and waits until its row is final.
    pub async fn run_sync(&self, sync_id: Uuid) -> JobRow {
        self.run_job(sync_id, JobKind::SYNC).await
    }

    /// Enqueues a job of `kind` and waits until its row is final.
    pub async fn run_job(&self, sync_id: Uuid, kind: JobKind) -> JobRow {
        self.wait_job(self.enqueue_kind(sync_id, kind).await).await
    }

    /// Puts `(key, value, is_secret)` values in Humanitec (the sandbox, org
    /// [`ORG`]) at app `app`, or at its environment `env`: what someone
    /// else wrote there before a test.
    pub fn put_humanitec(&self, app: &str, env: Option<&str>, values: &[(&str, &str, bool)]) {
        for (key, value, secret) in values {
            self.sandbox
                .put_value(ORG, app, env, key, value, *secret, "");
        }
    }

    /// Creates app `app` with environments `envs` in Humanitec (the
    /// sandbox, org [`ORG`]), beside the demo's `web` and `api`.
    pub fn add_humanitec_app(&self, app: &str, envs: &[&str]) {
        self.sandbox.add_app(
            ORG,
            humanitec_sandbox::AppSpec {
                id: app.to_string(),
                envs: envs.iter().map(|e| e.to_string()).collect(),
            },
        );
    }

    /// The keys and values Humanitec (the sandbox, org [`ORG`]) holds at app
    /// `app`, or at its environment `env` (inherited ones included).
    pub fn humanitec_values(&self, app: &str, env: Option<&str>) -> BTreeMap<String, String> {
        let values = self.sandbox.values(ORG, app, env).into_iter();
        values.map(|v| (v.key, v.value)).collect()
    }

    /// What the next sync job of `sync_id` would do (the product's preview).
    pub async fn preview(&self, sync_id: Uuid, prune_unmanaged: bool) -> Preview {
        let ctx =
            JobContext::from_settings(&self.settings, self.store.clone()).expect("job context");
        let sync = self
            .store
            .syncs
            .load_sync(sync_id)
            .await
            .expect("load sync")
            .expect("sync exists");
        preview_sync(&ctx, &sync, prune_unmanaged)
            .await
            .expect("preview")
    }

    /// Waits until the job row is final; panics with the row after 30 s.
    pub async fn wait_job(&self, job_id: Uuid) -> JobRow {
        self.wait_job_until(job_id, JOB_WAIT, |row| row.status.is_final())
            .await
    }

    /// Waits until the job's row exists and meets `done`; panics with the
    /// last row seen after `timeout`. The one way tests wait for a job.
    pub async fn wait_job_until(
        &self,
        job_id: Uuid,
        timeout: Duration,
        done: impl Fn(&JobRow) -> bool,
    ) -> JobRow {
        eventually(timeout, || async {
            match self.store.reads.job(job_id).await.expect("job row") {
                Some(row) if done(&row) => Ok(row),
                Some(row) => Err(format!("job {job_id}: {row:?}")),
                None => Err(format!("job {job_id}: no row yet")),
            }
        })
        .await
    }

    /// How many jobs of `job_type` the last in-process worker counted with
    /// `outcome` (`succeeded`, `retry`, `delayed`, ...) in its metrics.
    pub fn jobs_counted(&self, job_type: &str, outcome: &str) -> u64 {
        let metrics = self.metrics.as_ref().expect("an in-process worker");
        let labels = JobLabels {
            r#type: job_type.into(),
            status: outcome.into(),
        };
        metrics.jobs.get_or_create(&labels).get()
    }

    /// A connection to the first node of `AMQP_URL` that answers.
    async fn broker(&self) -> Connection {
        let mut last = None;
        for url in secret_sync::queue::split_urls(&self.settings.amqp_url) {
            match Connection::connect(&url, ConnectionProperties::default()).await {
                Ok(conn) => return conn,
                Err(e) => last = Some(e),
            }
        }
        panic!("no broker node answers: {last:?}")
    }

    /// Publishes raw bytes to the jobs exchange (for poison messages).
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        let props = BasicProperties::default().with_delivery_mode(2);
        self.publish(&self.names.jobs_exchange(), routing_key, body, props)
            .await;
    }

    /// Publishes a message as another service would, with confirms and
    /// the properties given (headers, message id, ...).
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
    ) {
        let conn = self.broker().await;
        let ch = conn.create_channel().await.expect("channel");
        ch.confirm_select(Default::default())
            .await
            .expect("confirms");
        ch.basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
        let _ = conn.close(200, "ok".into()).await;
    }

    /// A job message as JSON with a message id, persistent, and `headers`.
    pub fn job_properties(job_id: Uuid, headers: &[(&str, &str)]) -> BasicProperties {
        let mut table = FieldTable::default();
        for (k, v) in headers {
            table.insert((*k).into(), AMQPValue::LongString((*v).into()));
        }
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(job_id.to_string().into())
            .with_headers(table)
    }

    /// Puts a valid sync job on the dead-letter queue the way RabbitMQ's
    /// delivery limit would (routing key kept, reason in headers).
    pub async fn publish_dead_job(&self, sync_id: Uuid) -> Uuid {
        let job_id = Uuid::new_v4();
        let body = format!(r#"{{"jobId":"{job_id}","syncId":"{sync_id}","type":"sync"}}"#);
        let props = Self::job_properties(
            job_id,
            &[
                ("x-secret-sync-dead-reason", "worker crashed 10 times"),
                ("x-secret-sync-dead-source", "test"),
                ("x-secret-sync-dead-routing-key", "sync"),
                ("x-secret-sync-dead-at", "2026-01-01T00:00:00Z"),
            ],
        );
        self.publish(&self.names.dead_exchange(), "sync", body.as_bytes(), props)
            .await;
        job_id
    }

    /// Takes one message off the dead-letter queue, waiting up to 10 s.
    pub async fn take_dead_letter(&self) -> Option<(Vec<u8>, FieldTable)> {
        let conn = self.broker().await;
        let ch = conn.create_channel().await.expect("channel");
        let found = try_eventually(Duration::from_secs(10), || async {
            ch.basic_get(
                self.names.dead_queue().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic_get")
            .map(|msg| dead_letter(&msg.delivery))
        })
        .await
        .ok();
        let _ = conn.close(200, "ok".into()).await;
        found
    }

    /// Takes every message now on the dead-letter queue (no waiting).
    pub async fn drain_dead_letters(&self) -> Vec<(Vec<u8>, FieldTable)> {
        let conn = self.broker().await;
        let ch = conn.create_channel().await.expect("channel");
        let mut out = Vec::new();
        while let Some(msg) = ch
            .basic_get(
                self.names.dead_queue().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic_get")
        {
            out.push(dead_letter(&msg.delivery));
        }
        let _ = conn.close(200, "ok".into()).await;
        out
    }

    /// The sync as the API shows it (`secret_syncs_api`): the `secretSync`
    /// object.
    pub async fn sync_view(&self, sync_id: Uuid) -> Value {
        self.store
            .syncs
            .sync_api_json(sync_id)
            .await
            .expect("reading the API view")
            .expect("the sync's row")
    }

    /// A plain connection to this test's database, for what a test reads or
    /// locks by hand (not one of the product's: it is not named
    /// `secret-sync`). Closes when dropped.
    pub async fn sql(&self) -> tokio_postgres::Client {
        crate::db::connect(&self.settings.database_url).await
    }

    pub async fn sync_row(&self, sync_id: Uuid) -> SyncStatusRow {
        self.store
            .reads
            .sync_statuses(Some(sync_id))
            .await
            .expect("sync status")
            .into_iter()
            .next()
            .expect("sync row exists")
    }

    /// Stops the in-process workers (gracefully); the rest keeps running.
    pub async fn stop_workers(&mut self) {
        self.stop.cancel();
        for w in self.workers.drain(..) {
            let _ = w.await;
        }
        self.cleanup.workers.clear();
        self.stop = self.cleanup.root.child_token();
    }

    /// Stops the workers and the sandbox; keeps the database and queues.
    pub async fn stop(&mut self) {
        self.stop_workers().await;
        self.sandbox.shutdown();
    }

    /// Deletes the prefix's queues and exchanges now (the demo, which
    /// keeps its database), rather than when the env is dropped. Stop the
    /// workers first: a running worker declares them again.
    pub async fn delete_queues(&mut self) {
        self.cleanup.delete().await;
        self.cleanup.done = true;
    }

    /// Stops everything and deletes the test's queues and database.
    pub async fn finish(mut self) {
        self.stop().await;
        self.delete_queues().await;
        self.client.close().await;
        drop(self.store);
        drop(self.worker_store);
        drop(self.seed);
        // Postgres breaks a deadlock after a second by failing one of the
        // statements: two writers locked the same rows in opposite orders.
        // Whatever the test asserted, that is a bug.
        let url = &self.settings.database_url;
        let deadlocks = deadlocks(url, Duration::from_secs(3)).await;
        let _ = drop_database(url).await;
        self.cleanup.database_url = None;
        if let Ok(n @ 1..) = deadlocks {
            panic!("Postgres broke {n} deadlock(s) in this test's database: two statements locked rows in opposite orders (the Postgres log names them)");
        }
    }
}

/// A `TestEnv`'s broker objects: its prefix's queues (the topology's 8,
/// and the `delayed.*` ones earlier versions made for its delays) and
/// exchanges, and its database. `finish` deletes them in order; a test
/// that panics drops the env instead, and `Drop` deletes them then.
struct BrokerCleanup {
    amqp_url: String,
    queues: Vec<String>,
    exchanges: Vec<String>,
    /// Parent of the env's stop tokens (workers, API): cancelled on drop.
    root: CancellationToken,
    /// The in-process workers: aborted on drop (one still running would
    /// declare the queues again when it sees them go).
    workers: Vec<tokio::task::AbortHandle>,
    /// AMQP_CA_FILE's contents, for `amqps://` nodes.
    ca_pem: Option<String>,
    /// Deleted already (`finish`, `delete_queues`).
    done: bool,
    /// The test's database, dropped with the queues on a panic (`finish`
    /// drops it itself and clears this).
    database_url: Option<String>,
}

/// How long the cleanup waits for a broker node to answer.
const CLEANUP_CONNECT_WAIT: Duration = Duration::from_secs(10);

impl BrokerCleanup {
    fn new(settings: &Settings, names: &Names) -> BrokerCleanup {
        let retry = &settings.worker.retry;
        let delays = retry
            .job_retry_delays
            .iter()
            .chain([&retry.busy_delay, &settings.sync_debounce]);
        let legacy =
            delays.flat_map(|d| secret_sync::JobType::ALL.map(|t| names.legacy_delay_queue(t, *d)));
        BrokerCleanup {
            amqp_url: settings.amqp_url.clone(),
            ca_pem: settings
                .amqp_ca
                .as_ref()
                .and_then(|ca| std::fs::read_to_string(&ca.path).ok()),
            queues: names.queues().into_iter().chain(legacy).collect(),
            exchanges: names.exchanges(),
            root: CancellationToken::new(),
            workers: Vec::new(),
            done: false,
            database_url: None,
        }
    }

    /// Deletes the queues and exchanges (missing ones are no error) through
    /// the first node of `AMQP_URL` that answers; gives up quietly if none.
    async fn delete(&self) {
        let mut conn = None;
        for url in secret_sync::queue::split_urls(&self.amqp_url) {
            let Ok(runtime) = lapin::runtime::default_runtime() else {
                break;
            };
            let tls = lapin::tcp::OwnedTLSConfig {
                cert_chain: self.ca_pem.clone(),
                ..Default::default()
            };
            let connect = Connection::connect_with_config(
                &url,
                ConnectionProperties::default(),
                tls,
                runtime,
            );
            if let Ok(Ok(c)) = tokio::time::timeout(CLEANUP_CONNECT_WAIT, connect).await {
                conn = Some(c);
                break;
            }
        }
        let Some(conn) = conn else {
            eprintln!("test cleanup: no broker node answered; queues of this test are left behind");
            return;
        };
        if let Ok(ch) = conn.create_channel().await {
            for q in &self.queues {
                let _ = ch
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            for e in &self.exchanges {
                let _ = ch
                    .exchange_delete(e.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            }
            // Closed here, not dropped: a dropped channel is closed in the
            // background, racing the connection's close below (lapin then
            // logs "invalid channel state: Closing").
            let _ = ch.close(200, "ok".into()).await;
        }
        let _ = conn.close(200, "ok".into()).await;
    }
}

impl Drop for BrokerCleanup {
    fn drop(&mut self) {
        self.root.cancel();
        for worker in &self.workers {
            worker.abort();
        }
        let database_url = self.database_url.take();
        if self.done && database_url.is_none() {
            return;
        }
        // Drop may run during a panic's unwind inside the test's runtime,
        // which cannot be blocked on: a thread of its own, with a runtime
        // of its own, does the deleting, and is waited for (bounded).
        let queues_left = !self.done;
        let cleanup = BrokerCleanup {
            amqp_url: self.amqp_url.clone(),
            ca_pem: self.ca_pem.clone(),
            queues: std::mem::take(&mut self.queues),
            exchanges: std::mem::take(&mut self.exchanges),
            root: self.root.clone(),
            workers: Vec::new(),
            done: true,
            database_url: None,
        };
        let deleting = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                let limit = CLEANUP_CONNECT_WAIT * 3;
                // The timer is made inside the runtime (it needs its clock).
                runtime.block_on(async {
                    if queues_left {
                        let _ = tokio::time::timeout(limit, cleanup.delete()).await;
                    }
                    if let Some(url) = database_url {
                        let _ = tokio::time::timeout(limit, drop_database(&url)).await;
                    }
                });
            }
        });
        let _ = deleting.join();
    }
}

/// A dead letter's body and headers.
fn dead_letter(delivery: &Delivery) -> (Vec<u8>, FieldTable) {
    let headers = delivery.properties.headers().clone().unwrap_or_default();
    (delivery.data.clone(), headers)
}

pub fn header_text(headers: &FieldTable, name: &str) -> Option<String> {
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

pub fn app_scope(app: &str) -> Value {
    json!({"scope": "application", "org": ORG, "app": app})
}

pub fn env_scope(app: &str, env: &str) -> Value {
    json!({"scope": "environment", "org": ORG, "app": app, "env": env})
}

pub fn options() -> Value {
    json!({"initialSyncBehavior": "overwrite-destination"})
}
