//! Test harness: each test gets its own database, queue prefix, sandbox and
//! (when started) an in-process worker, against the real local Postgres and
//! RabbitMQ. Nothing here is a mock except Humanitec (the sandbox).
#![allow(dead_code)]

use std::time::Duration;

use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use secret_sync::config::Settings;
use secret_sync::crypto::{generate_key, Cipher};
use secret_sync::queue::{self, declare_topology, JobMessage, JobType, Names};
use secret_sync::sandbox::{Sandbox, SandboxConfig};
use secret_sync::store::{JobRow, Store};
use secret_sync::worker::{self, Shared};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const ORG: &str = "demo-org";
pub const ADMIN_TOKEN: &str = "sandbox-admin-token";

pub struct TestEnv {
    pub settings: Settings,
    pub store: Store,
    pub cipher: Cipher,
    pub sandbox: Sandbox,
    pub names: Names,
    stop: CancellationToken,
    workers: Vec<tokio::task::JoinHandle<Result<(), worker::WorkerError>>>,
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
        let sandbox = Sandbox::start(SandboxConfig::demo(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("sandbox starts");
        let key = generate_key();
        let db = format!("postgres://postgres@127.0.0.1:5432/test_{id}");
        let prefix = format!("test-{id}.");
        let url = sandbox.base_url();
        let settings = Settings::from_lookup(|name| {
            overrides(name).or_else(|| match name {
                "DATABASE_URL" => Some(db.clone()),
                "HUMANITEC_API_URL" => Some(url.clone()),
                "ENCRYPTION_KEY" => Some(key.clone()),
                "QUEUE_PREFIX" => Some(prefix.clone()),
                "HTTP_RETRY_MIN_DELAY" => Some("20ms".into()),
                "HTTP_RETRY_MAX_DELAY" => Some("100ms".into()),
                "JOB_RETRY_DELAYS" => Some("300ms".into()),
                "SYNC_BUSY_DELAY" => Some("200ms".into()),
                "HUMANITEC_TIMEOUT" => Some("5s".into()),
                _ => None,
            })
        })
        .expect("test settings are valid");
        secret_sync::store::ensure_database(&settings.database_url)
            .await
            .expect("database");
        let store = Store::connect(&settings.database_url, 8).expect("pool");
        store.migrate().await.expect("migrations");
        // Declare the topology up front so publishes before the worker starts are kept.
        let conn = queue::connect(&settings.amqp_url, "test")
            .await
            .expect("broker");
        let ch = conn.create_channel().await.expect("channel");
        declare_topology(&ch, &Names::new(&settings.queue_prefix))
            .await
            .expect("topology");
        let _ = conn.close(200, "ok".into()).await;
        TestEnv {
            cipher: Cipher::from_base64_key(&key).expect("key"),
            names: Names::new(&settings.queue_prefix),
            settings,
            store,
            sandbox,
            stop: CancellationToken::new(),
            workers: Vec::new(),
        }
    }

    pub async fn start_worker(&mut self) {
        let shared = Shared::build(self.settings.clone())
            .await
            .expect("worker builds");
        self.workers
            .push(tokio::spawn(worker::run(shared, self.stop.clone())));
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
        self.store
            .create_project(&project, "Project")
            .await
            .expect("project");
        let folder = self
            .store
            .create_folder(&project, env_slug, "/app")
            .await
            .expect("folder");
        for (k, v) in secrets {
            self.put_secret(folder, k, v).await;
        }
        let creds = json!({ "apiToken": token }).to_string();
        let connection = self
            .store
            .create_connection(
                &project,
                &format!("conn-{}", Uuid::new_v4()),
                &self.cipher.encrypt_str(&creds),
            )
            .await
            .expect("connection");
        Source {
            project,
            folder,
            connection,
        }
    }

    pub async fn put_secret(&self, folder: Uuid, key: &str, value: &str) {
        self.store
            .put_secret(folder, key, &self.cipher.encrypt_str(value), None)
            .await
            .expect("secret");
    }

    pub async fn sync(&self, src: &Source, name: &str, destination: Value, options: Value) -> Uuid {
        self.store
            .create_sync(
                &src.project,
                name,
                src.folder,
                src.connection,
                &destination,
                &options,
            )
            .await
            .expect("sync row")
    }

    pub async fn enqueue(&self, sync_id: Uuid) -> Uuid {
        self.enqueue_job(JobMessage {
            job_id: None,
            sync_id,
            job_type: JobType::Sync,
            import_behavior: None,
            delete_sync_on_complete: None,
            trigger: Some("test".into()),
        })
        .await
    }

    pub async fn enqueue_job(&self, job: JobMessage) -> Uuid {
        secret_sync::cli::enqueue(&self.settings, &job)
            .await
            .expect("enqueue")
    }

    /// Publishes raw bytes to the jobs exchange (for poison messages).
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        let conn = queue::connect(&self.settings.amqp_url, "test")
            .await
            .expect("broker");
        let ch = conn.create_channel().await.expect("channel");
        ch.confirm_select(Default::default())
            .await
            .expect("confirms");
        ch.basic_publish(
            self.names.jobs_exchange().into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
        let _ = conn.close(200, "ok".into()).await;
    }

    /// Waits until the job row is final; panics with the row after 30 s.
    pub async fn wait_job(&self, job_id: Uuid) -> JobRow {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let row = self.store.job(job_id).await.expect("job row");
            if let Some(row) = &row {
                if matches!(row.status.as_str(), "succeeded" | "failed" | "skipped") {
                    return row.clone();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {job_id} did not finish: {row:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Takes one message off the dead-letter queue, waiting up to 10 s.
    pub async fn take_dead_letter(&self) -> Option<(Vec<u8>, FieldTable)> {
        let conn = queue::connect(&self.settings.amqp_url, "test")
            .await
            .expect("broker");
        let ch = conn.create_channel().await.expect("channel");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let found = loop {
            let got = ch
                .basic_get(
                    self.names.dead_queue().into(),
                    BasicGetOptions { no_ack: true },
                )
                .await
                .expect("basic_get");
            if let Some(msg) = got {
                let headers = msg
                    .delivery
                    .properties
                    .headers()
                    .clone()
                    .unwrap_or_default();
                break Some((msg.delivery.data.clone(), headers));
            }
            if tokio::time::Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let _ = conn.close(200, "ok".into()).await;
        found
    }

    pub async fn sync_row(&self, sync_id: Uuid) -> secret_sync::store::SyncStatusRow {
        self.store
            .sync_statuses(Some(sync_id))
            .await
            .expect("sync status")
            .into_iter()
            .next()
            .expect("sync row exists")
    }

    /// Stops workers and deletes the test's queues and database.
    pub async fn finish(self) {
        self.stop.cancel();
        for w in self.workers {
            let _ = w.await;
        }
        self.sandbox.shutdown();
        if let Ok(conn) = queue::connect(&self.settings.amqp_url, "test cleanup").await {
            if let Ok(ch) = conn.create_channel().await {
                for q in [
                    self.names.jobs_queue(),
                    self.names.events_queue(),
                    self.names.dead_queue(),
                ] {
                    let _ = ch
                        .queue_delete(q.into(), QueueDeleteOptions::default())
                        .await;
                }
            }
            let _ = conn.close(200, "ok".into()).await;
        }
        drop(self.store);
        let _ = secret_sync::store::drop_database(&self.settings.database_url).await;
    }
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

/// Checks every request body the sandbox received against the operation's
/// requestBody schema in Humanitec's OpenAPI spec.
pub fn assert_requests_match_spec(sandbox: &Sandbox) {
    let spec: Value =
        serde_json::from_str(include_str!("../../spec/humanitec-openapi.json")).expect("spec");
    let requests = sandbox.requests();
    assert!(!requests.is_empty(), "no requests recorded");
    for r in &requests {
        let (template, op) = find_operation(&spec, &r.method, &r.path)
            .unwrap_or_else(|| panic!("{} {} is not an operation of the spec", r.method, r.path));
        let body_schema = op.pointer("/requestBody/content/application~1json/schema");
        match (body_schema, &r.body) {
            (Some(schema), Some(body)) => {
                let mut root = schema.clone();
                if let Value::Object(map) = &mut root {
                    map.insert("components".into(), spec["components"].clone());
                }
                let validator = jsonschema::validator_for(&root).expect("schema compiles");
                let errors: Vec<String> =
                    validator.iter_errors(body).map(|e| e.to_string()).collect();
                assert!(
                    errors.is_empty(),
                    "{} {template}: body violates the spec: {errors:?}",
                    r.method
                );
            }
            (Some(_), None) => {
                let required = op
                    .pointer("/requestBody/required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                assert!(!required, "{} {template}: required body missing", r.method);
            }
            (None, Some(_)) => panic!(
                "{} {template}: sent a body the spec does not define",
                r.method
            ),
            (None, None) => {}
        }
    }
}

fn find_operation<'a>(spec: &'a Value, method: &str, path: &str) -> Option<(String, &'a Value)> {
    let paths = spec["paths"].as_object()?;
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (template, ops) in paths {
        let tsegs: Vec<&str> = template.trim_matches('/').split('/').collect();
        let matches = tsegs.len() == segs.len()
            && tsegs
                .iter()
                .zip(&segs)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s);
        if matches {
            if let Some(op) = ops.get(method.to_lowercase()) {
                return Some((template.clone(), op));
            }
        }
    }
    None
}
