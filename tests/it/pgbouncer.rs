//! The worker through PgBouncer in transaction mode (Debian's pgbouncer,
//! 1.18: no prepared statement support in that mode): sync, retry,
//! exclusion, coalescing, import and remove. Test setup creates and
//! migrates the database directly; the workers' traffic goes through a
//! PgBouncer this test starts on a free port with a generated config.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::TryStreamExt;

use humanitec_sandbox::{Fault, Faults};
use secret_sync::queue::SecretChanged;
use secret_sync::{ImportBehavior, JobKind, JobStatus};
use secret_sync_testkit::*;
use serde_json::json;
use uuid::Uuid;

/// Few server connections, so that the workers' clients share them and
/// any session state (named statements, advisory locks) would break.
const SERVER_POOL: u32 = 4;

struct PgBouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

fn find_pgbouncer() -> PathBuf {
    let candidates = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(PathBuf::from)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("pgbouncer"))
        .collect::<Vec<_>>();
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "pgbouncer is not installed, and these tests run the worker through PgBouncer in \
             transaction mode. Install it (`apt-get install -y pgbouncer`; `scripts/test` does) and run them again."
        )
    })
}

impl PgBouncer {
    async fn start() -> PgBouncer {
        let bin = find_pgbouncer();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir().join(format!("pgbouncer-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ini = dir.join("pgbouncer.ini");
        let users = dir.join("userlist.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n").expect("userlist");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host=127.0.0.1 port=5432\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {}\npool_mode = transaction\n\
                 max_client_conn = 500\ndefault_pool_size = {SERVER_POOL}\n\
                 admin_users = postgres\nignore_startup_parameters = extra_float_digits,options\n",
                users.display()
            ),
        )
        .expect("config");
        // pgbouncer refuses to run as root; it may read the files as postgres.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if root {
            use std::os::unix::fs::PermissionsExt;
            for (p, mode) in [(&dir, 0o755), (&ini, 0o644), (&users, 0o644)] {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                    .expect("permissions");
            }
        }
        let log = std::fs::File::create(dir.join("pgbouncer.log")).expect("log");
        let mut cmd = Command::new(bin);
        if root {
            cmd.args(["-u", "postgres"]);
        }
        let child = cmd
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("pgbouncer starts");
        let bouncer = PgBouncer { child, dir, port };
        eventually(Duration::from_secs(5), || async {
            let listening = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
            listening.map_err(|e| format!("pgbouncer on port {port}: {e}; {}", bouncer.log()))
        })
        .await;
        bouncer
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    /// Transactions PgBouncer passed to `database` (its admin console).
    async fn transactions(&self, database: &str) -> u64 {
        let (client, conn) = tokio_postgres::connect(&self.url("pgbouncer"), tokio_postgres::NoTls)
            .await
            .expect("pgbouncer admin console");
        tokio::spawn(conn);
        let msgs = client.simple_query("SHOW STATS").await.expect("SHOW STATS");
        msgs.iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r)
                    if r.get("database") == Some(database) =>
                {
                    r.get("total_xact_count").and_then(|n| n.parse().ok())
                }
                _ => None,
            })
            .unwrap_or(0)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A harness whose workers reach Postgres through `bouncer`.
async fn env_through(bouncer: &PgBouncer, overrides: fn(&str) -> Option<String>) -> TestEnv {
    let mut env = TestEnv::with(overrides).await;
    let database = env
        .settings
        .database_url
        .rsplit('/')
        .next()
        .expect("database name")
        .to_string();
    env.settings.database_url = bouncer.url(&database);
    // PgBouncer 1.18 in transaction mode: unnamed statements only.
    env.settings.database_prepared_statements = false;
    env.start_worker().await;
    env.start_worker().await;
    env
}

fn database_of(env: &TestEnv) -> String {
    env.settings
        .database_url
        .rsplit('/')
        .next()
        .expect("database name")
        .to_string()
}

#[tokio::test]
async fn the_job_lifecycle_works_through_pgbouncer_in_transaction_mode() {
    let bouncer = PgBouncer::start().await;
    let mut env = env_through(&bouncer, |name| match name {
        "HTTP_RETRIES" => Some("0".into()),
        "WORKER_CONCURRENCY" => Some("32".into()),
        _ => None,
    })
    .await;
    let database = database_of(&env);
    let direct = format!("postgres://postgres@127.0.0.1:5432/{database}");

    // Sync.
    let src = env.source("production", &[("A", "1"), ("B", "2")]).await;
    let sync = env.sync(&src, "s", app_scope("api"), options()).await;
    let row = env.run_sync(sync).await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    assert_eq!(env.sandbox.values(ORG, "api", None).len(), 2);

    // A transient failure retried as a delayed job.
    env.put_secret(src.folder, "A", "changed").await;
    env.sandbox.set_faults(Faults {
        script: vec![Fault::Status {
            status: 503,
            retry_after: None,
        }],
        ..Faults::default()
    });
    let row = env.run_sync(sync).await;
    assert_eq!(
        (row.status, row.attempt),
        (JobStatus::Succeeded, 2),
        "{:?}",
        row.message
    );
    let value = |k: &str| {
        env.sandbox
            .values(ORG, "api", None)
            .into_iter()
            .find(|v| v.key == k)
            .map(|v| v.value)
    };
    assert_eq!(value("A").as_deref(), Some("changed"));

    // Exclusion: duplicates published straight to the broker never overlap.
    env.sandbox.set_faults(Faults {
        latency_ms: 50,
        ..Faults::default()
    });
    env.put_secret(src.folder, "B", "3").await;
    let mut jobs = Vec::new();
    for _ in 0..10 {
        let job = Uuid::new_v4();
        let body = json!({"jobId": job, "syncId": sync, "type": "sync", "trigger": "dup"});
        env.publish_raw("sync", body.to_string().as_bytes()).await;
        jobs.push(job);
    }
    let mut runs = Vec::new();
    for job in jobs {
        let row = env.wait_job(job).await;
        match row.status {
            JobStatus::Succeeded => runs.push((row.started_at, row.finished_at)),
            JobStatus::Skipped => {}
            other => panic!("job ended {other}: {:?}", row.message),
        }
    }
    runs.sort();
    for pair in runs.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlap: {pair:?}");
    }
    assert_eq!(value("B").as_deref(), Some("3"));

    // Coalescing: a burst of change events costs at most two runs.
    env.put_secret(src.folder, "A", "burst").await;
    env.sandbox.clear_requests();
    let change = SecretChanged {
        project_id: src.project.clone(),
        environment: "production".into(),
        path: "/app".into(),
    };
    for _ in 0..30 {
        env.client.publish_change(&change).await.expect("publish");
    }
    // The burst syncs.
    eventually(Duration::from_secs(30), || async {
        seen(value("A"), |a| a.as_deref() == Some("burst"))
    })
    .await;
    let auto_jobs: Vec<_> = env
        .store
        .reads
        .recent_jobs(Some(sync), 100)
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| j.trigger.as_deref() == Some("auto-sync"))
        .collect();
    assert!(
        (1..=2).contains(&auto_jobs.len()),
        "{} auto-sync jobs",
        auto_jobs.len()
    );
    for job in &auto_jobs {
        env.wait_job(job.id).await;
    }

    // Import (non-secret values come back into the folder).
    env.sandbox.set_faults(Faults::default());
    env.put_humanitec("api", None, &[("PLAIN", "from-humanitec", false)]);
    let row = env
        .run_job(
            sync,
            JobKind::Import {
                behavior: ImportBehavior::PrioritizeDestination,
            },
        )
        .await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    let folder: BTreeMap<String, String> = env.seed.folder_values(src.folder).await;
    assert_eq!(
        folder.get("PLAIN").map(String::as_str),
        Some("from-humanitec")
    );

    // Remove, deleting the sync once done.
    let row = env
        .run_job(
            sync,
            JobKind::Remove {
                delete_sync_on_complete: true,
            },
        )
        .await;
    assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    let left: Vec<String> = env
        .sandbox
        .values(ORG, "api", None)
        .into_iter()
        .map(|v| v.key)
        .collect();
    assert!(
        !left.iter().any(|k| k == "A" || k == "B"),
        "the sync's values are gone: {left:?}"
    );
    assert!(env
        .store
        .reads
        .sync_statuses(Some(sync))
        .await
        .expect("rows")
        .is_empty());

    // Many jobs at once: the workers' 20 client connections share the
    // 4 server connections, statement by statement.
    let mut many = Vec::new();
    for i in 0..80 {
        let options = json!({"initialSyncBehavior": "overwrite-destination",
                             "keySchema": format!("M{i}_{{{{secretKey}}}}")});
        many.push(
            env.sync(&src, &format!("m{i}"), app_scope("api"), options)
                .await,
        );
    }
    let mut jobs = Vec::new();
    for sync in &many {
        jobs.push(env.enqueue(*sync).await);
    }
    for job in jobs {
        let row = env.wait_job(job).await;
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.message);
    }

    // The workers' traffic really went through PgBouncer.
    let passed = bouncer.transactions(&database).await;
    println!("PgBouncer passed {passed} transactions to {database}");
    assert!(passed > 50, "{passed} transactions through PgBouncer");
    let log = bouncer.log();
    assert!(
        !log.contains("prepared statement"),
        "pgbouncer log mentions prepared statements:\n{log}"
    );
    // Clean up directly, not through PgBouncer.
    env.settings.database_url = direct;
    env.finish().await;
}

/// Named prepared statements fail behind PgBouncer in transaction mode only
/// when a statement's parse and its execution land on different server
/// connections, which takes concurrency; the worker would retry such
/// failures and hide them. So: every store query, many at once, through
/// PgBouncer, and not a single error.
#[tokio::test]
async fn store_queries_use_no_session_state_even_under_concurrency() {
    use secret_sync::model::PushedKey;
    use secret_sync::store::LeaseTake;
    use secret_sync::{JobType, Store};
    let bouncer = PgBouncer::start().await;
    let env = TestEnv::new().await;
    let src = env.source("production", &[("A", "1")]).await;
    // A comment too, so the rotation's compare-and-swap meets a non-null one.
    env.seed
        .put_secret(src.folder, "B", "2", Some("a comment"))
        .await;
    let sync = env.sync(&src, "s", app_scope("api"), options()).await;
    env.store
        .syncs
        .record_pushes(
            sync,
            "demo-org/api",
            &[PushedKey {
                key: "A".into(),
                fingerprint: vec![7; 32],
                secret_version: Some("1".into()),
                stamp: None,
            }],
            &[],
        )
        .await
        .expect("fingerprint recorded");
    let job = env.enqueue(sync).await;
    let store = Store::connect(&bouncer.url(&database_of(&env)), 20)
        .expect("pool")
        .with_prepared_statements(false);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (store, project) = (store.clone(), src.project.clone());
        let (folder, connection) = (src.folder, src.connection);
        tasks.push(tokio::spawn(async move {
            let probe = Probe {
                store: &store,
                project: &project,
                folder,
                connection,
                sync,
            };
            for n in 0..10 {
                store.ledger.job_state(job).await?;
                store.reads.job(job).await?;
                store.reads.recent_jobs(Some(sync), 5).await?;
                store.reads.sync_statuses(Some(sync)).await?;
                store.syncs.load_sync(sync).await?;
                store
                    .syncs
                    .syncs_for_folder(&project, "production", "/app")
                    .await?;
                store.syncs.load_connection(connection).await?;
                store.syncs.folder_secrets(folder).await?;
                store.syncs.pushed_keys(sync, "demo-org/api").await?;
                store
                    .ledger
                    .open_leased_job(
                        sync,
                        job,
                        JobType::Sync,
                        secret_sync::model::Debounce {
                            quiet: Duration::from_millis(250),
                            max_wait: Duration::from_secs(10),
                        },
                    )
                    .await?;
                store.syncs.sync_api_json(sync).await?;
                store
                    .ledger
                    .claim_queued(sync, "sync", Uuid::new_v4(), Duration::from_secs(30))
                    .await?;
                let holder = format!("probe {i}");
                if let LeaseTake::Taken(lease) = store
                    .ledger
                    .try_lease_sync(sync, job, &holder, Duration::from_secs(5))
                    .await?
                    .take
                {
                    store
                        .ledger
                        .renew_lease(&lease, Duration::from_secs(5))
                        .await?;
                    store.ledger.release_lease(&lease).await?;
                }
                let tag = format!("{i}-{n}");
                probe.api_syncs(&tag).await?;
                probe.api_connections(&tag).await?;
                probe.api_tokens(&tag).await?;
                probe.gauges_and_rotation().await?;
            }
            Ok::<(), secret_sync::store::StoreError>(())
        }));
    }
    for t in tasks {
        if let Err(e) = t.await.expect("task") {
            panic!("a store query failed through PgBouncer: {e:?}");
        }
    }
    drop(store);
    env.finish().await;
}

/// Left on (the default) behind PgBouncer 1.18 in transaction mode,
/// prepared statements meet server connections that never saw them: the
/// error says what to set.
#[tokio::test]
async fn prepared_statements_behind_pgbouncer_fail_saying_what_to_set() {
    let bouncer = PgBouncer::start().await;
    let env = TestEnv::new().await;
    let (_, sync) = env.one_sync().await;
    let store = secret_sync::Store::connect(&bouncer.url(&database_of(&env)), 20).expect("pool");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                store.syncs.load_sync(sync).await?;
                store.reads.recent_jobs(Some(sync), 5).await?;
            }
            Ok::<(), secret_sync::store::StoreError>(())
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.expect("task") {
            failures.push(e.to_string());
        }
    }
    assert!(
        !failures.is_empty(),
        "20 clients sharing {SERVER_POOL} server connections never lost a prepared statement"
    );
    for message in failures {
        assert!(
            message.contains("set DATABASE_PREPARED_STATEMENTS=false"),
            "{message}"
        );
    }
    drop(store);
    env.finish().await;
}

/// The API's, the gauges' and the key rotation's store queries, each
/// checked for its effect (a wrong parameter type would show).
struct Probe<'a> {
    store: &'a secret_sync::Store,
    project: &'a str,
    folder: Uuid,
    connection: Uuid,
    sync: Uuid,
}

type StoreResult = Result<(), secret_sync::store::StoreError>;

impl Probe<'_> {
    async fn api_syncs(&self, tag: &str) -> StoreResult {
        use secret_sync::store::{
            DestinationCheck, FolderLookup, JobStart, NewSync, SyncChanges, Written,
        };
        use secret_sync::{Job, JobKind};
        let store = self.store;
        assert_eq!(
            store
                .syncs
                .find_folder(self.project, "production", "/app")
                .await?,
            FolderLookup::Folder(self.folder)
        );
        assert_eq!(
            store
                .syncs
                .find_folder(self.project, "production", "/nope")
                .await?,
            FolderLookup::NoFolder
        );
        assert!(store.syncs.sync_name_taken(self.project, "s", None).await?);
        assert!(
            !store
                .syncs
                .sync_name_taken(self.project, "s", Some(self.sync))
                .await?
        );
        let name = format!("api-{tag}");
        let app = format!("app-{tag}");
        let created = store
            .syncs
            .insert_sync(
                &NewSync {
                    name: &name,
                    description: Some("probe"),
                    project_id: self.project,
                    folder_id: self.folder,
                    connection_id: self.connection,
                    is_auto_sync_enabled: false,
                    sync_options: &options(),
                    destination_config: &app_scope(&app),
                },
                // The destination's lock and read, through the pooler.
                &DestinationCheck {
                    org: ORG,
                    app: &app,
                    refuse: &|_| None,
                },
                &probe_audit(self.project),
            )
            .await?;
        let Written::Done(own) = created else {
            panic!("creating sync {name}: {created:?}");
        };
        let renamed = format!("{name}-renamed");
        let updated = store
            .syncs
            .update_sync(
                own,
                &SyncChanges {
                    name: Some(renamed.clone()),
                    description: Some(None),
                    folder_id: Some(self.folder),
                    connection_id: Some(self.connection),
                    is_auto_sync_enabled: Some(true),
                    sync_options: Some(options()),
                    destination_config: Some(app_scope(&app)),
                },
                None,
                &probe_audit(self.project),
            )
            .await?;
        assert!(matches!(updated, Written::Done(())), "{updated:?}");
        let missing = store
            .syncs
            .update_sync(Uuid::new_v4(), &SyncChanges::default(), None, &[])
            .await?;
        assert!(matches!(missing, Written::Missing), "{missing:?}");
        let listed = store
            .syncs
            .syncs_api_json(self.project, secret_sync::store::Page::ALL)
            .await?
            .syncs
            .try_collect::<Vec<_>>()
            .await?;
        let mine = listed
            .iter()
            .find(|s| s["name"] == renamed.as_str())
            .unwrap_or_else(|| panic!("{renamed} not listed"));
        assert_eq!(
            (&mine["description"], &mine["isAutoSyncEnabled"]),
            (&serde_json::Value::Null, &json!(true))
        );
        let at = store.syncs.syncs_at_destination(ORG, &app).await?;
        assert_eq!(at.iter().map(|s| s.id).collect::<Vec<_>>(), vec![own]);
        store
            .syncs
            .mark_sync_not_enqueued(own, "probe: not enqueued")
            .await?;
        let failed = JobStart {
            job: Job {
                id: Uuid::new_v4(),
                sync_id: own,
                kind: JobKind::SYNC,
                trigger: Some("probe".into()),
                actor: None,
            },
            attempt: 1,
            max_attempts: 1,
            enqueued_at: chrono::Utc::now(),
            worker_id: format!("probe {tag}"),
            coalesced: 1,
            covers_until: None,
            started_at: None,
        };
        store.ledger.fail_job(&failed, "probe: failed").await?;
        let row = &store.reads.sync_statuses(Some(own)).await?[0];
        assert_eq!(
            (row.sync_status, row.last_sync_message.as_deref()),
            (Some(JobStatus::Failed), Some("probe: failed"))
        );
        let shown = store.syncs.sync_api_json(own).await?.expect("sync");
        assert_eq!(shown["lastSyncJobId"], json!(failed.job.id.to_string()));
        assert_eq!(
            store
                .ledger
                .job_state(failed.job.id)
                .await?
                .map(|s| s.status),
            Some(JobStatus::Failed)
        );
        Ok(())
    }

    async fn api_connections(&self, tag: &str) -> StoreResult {
        use secret_sync::store::{ConnectionChanges, Written};
        let store = self.store;
        let name = format!("conn-{tag}");
        let created = store
            .syncs
            .insert_connection(
                self.project,
                &name,
                Some("probe"),
                b"not a ciphertext",
                &probe_audit(self.project),
            )
            .await?;
        let Written::Done(json) = created else {
            panic!("creating connection {name}: {created:?}");
        };
        let id: Uuid = json["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("connection id");
        let duplicate = store
            .syncs
            .insert_connection(self.project, &name, None, b"x", &[])
            .await?;
        assert!(matches!(duplicate, Written::DuplicateName), "{duplicate:?}");
        let (project, shown) = store
            .syncs
            .connection_api_json(id)
            .await?
            .expect("connection");
        assert_eq!(
            (project.as_str(), &shown["name"]),
            (self.project, &json!(name))
        );
        assert!(store
            .syncs
            .connections_api_json(
                Some(&[self.project.to_string()]),
                secret_sync::store::Page::ALL,
            )
            .await?
            .iter()
            .any(|c| c["id"] == json["id"]));
        let renamed = format!("{name}-renamed");
        let updated = store
            .syncs
            .update_connection(
                id,
                &ConnectionChanges {
                    name: Some(renamed.clone()),
                    description: Some(None),
                    encrypted_credentials: Some(b"still not a ciphertext".to_vec()),
                },
                &probe_audit(self.project),
            )
            .await?;
        let Written::Done(updated) = updated else {
            panic!("renaming connection {name}: {updated:?}");
        };
        assert_eq!(
            (&updated["name"], &updated["description"]),
            (&json!(renamed), &serde_json::Value::Null)
        );
        let missing = store
            .syncs
            .update_connection(Uuid::new_v4(), &ConnectionChanges::default(), &[])
            .await?;
        assert!(matches!(missing, Written::Missing), "{missing:?}");
        assert!(store.syncs.syncs_using_connection(id).await?.is_empty());
        assert_eq!(
            store
                .syncs
                .delete_unused_connection(id, &probe_audit(self.project))
                .await?,
            Ok(true)
        );
        let refused = store
            .syncs
            .delete_unused_connection(self.connection, &[])
            .await?;
        assert!(
            refused
                .as_ref()
                .is_err_and(|users| users.iter().any(|u| u == "s")),
            "{refused:?}"
        );
        Ok(())
    }

    async fn api_tokens(&self, tag: &str) -> StoreResult {
        let store = self.store;
        let hash = Uuid::new_v4().as_bytes().to_vec();
        let token = store
            .auth
            .create_api_token(
                &format!("probe {tag}"),
                &hash,
                "read",
                &[self.project.to_string()],
                &probe_audit(self.project),
            )
            .await?;
        assert_eq!(token.project_ids, vec![self.project.to_string()]);
        let used = store.auth.use_api_token(&hash).await?.expect("live token");
        assert_eq!(used.id, token.id);
        assert!(store
            .auth
            .api_tokens()
            .await?
            .iter()
            .any(|t| t.id == token.id));
        assert!(store.auth.revoke_api_token(token.id, &[]).await?);
        assert!(!store.auth.revoke_api_token(token.id, &[]).await?);
        assert!(store.auth.use_api_token(&hash).await?.is_none());
        assert!(store.auth.project_exists(self.project).await?);
        assert!(!store.auth.project_exists("no-such-project").await?);
        Ok(())
    }

    async fn gauges_and_rotation(&self) -> StoreResult {
        use secret_sync::store::FingerprintRow;
        let store = self.store;
        assert!(!store.ledger.sync_status_counts().await?.is_empty());
        assert!(store.ledger.oldest_pending_job_age().await? >= 0.0);
        // Compare-and-swap every row onto itself: it lands (the row still
        // holds what was read) and changes nothing other tasks could see.
        use secret_sync::crypto::Column;
        let (table, columns) = ("secrets", [Column::SecretValue, Column::SecretComment]);
        let secrets = store
            .keys
            .encrypted_rows_after(table, &columns, None, 1000)
            .await?;
        assert!(secrets.iter().any(|s| s.cells[1].is_some()));
        assert!(secrets.iter().any(|s| s.cells[1].is_none()));
        for s in &secrets {
            let swapped = store.keys.swap_encrypted(table, &columns, s, s).await?;
            assert!(swapped, "secret {} swapped", s.id);
        }
        let last = secrets.last().map(|s| s.id);
        assert!(store
            .keys
            .encrypted_rows_after(table, &columns, last, 1000)
            .await?
            .is_empty());
        let (table, columns) = ("app_connections", [Column::ConnectionCredentials]);
        let connections = store
            .keys
            .encrypted_rows_after(table, &columns, None, 1000)
            .await?;
        let source = connections
            .iter()
            .find(|c| c.id == self.connection)
            .expect("the source's connection");
        assert!(
            store
                .keys
                .swap_encrypted(table, &columns, source, source)
                .await?
        );
        assert!(store
            .keys
            .encrypted_rows_after(table, &columns, Some(self.connection), 1000)
            .await?
            .iter()
            .all(|c| c.id > self.connection));
        assert!(store
            .keys
            .sync_ids_after(None, 10_000)
            .await?
            .contains(&self.sync));
        assert!(!store
            .keys
            .sync_ids_after(Some(self.sync), 10_000)
            .await?
            .contains(&self.sync));
        let fingerprints = store.keys.fingerprints(self.sync).await?;
        assert_eq!(fingerprints.len(), 1);
        let fp = &fingerprints[0];
        assert!(
            store
                .keys
                .swap_fingerprint(self.sync, fp, &fp.fingerprint)
                .await?
        );
        let stale = FingerprintRow {
            destination: fp.destination.clone(),
            key: fp.key.clone(),
            fingerprint: vec![0],
        };
        assert!(!store.keys.swap_fingerprint(self.sync, &stale, b"x").await?);
        Ok(())
    }
}

/// An audit entry, so the probes also write the audit log through PgBouncer.
fn probe_audit(project: &str) -> Vec<secret_sync::model::AuditEntry> {
    vec![
        secret_sync::model::AuditEntry::new(secret_sync::model::Actor::Cli, "probe", "probe")
            .project(project),
    ]
}
