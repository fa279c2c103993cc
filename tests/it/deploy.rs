//! Deployment contracts: the RabbitMQ definitions file is the topology the
//! worker declares, and the example enqueue clients in Python and Node
//! publish jobs the worker runs. (The Compose and Kubernetes files are
//! checked by `scripts/check-deploy.sh`, run by `scripts/test`; the
//! Kubernetes workloads are run as declared by `manifests.rs`.)

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use secret_sync::queue::{Broker, Names};
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use uuid::Uuid;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs (RabbitMQ is installed on this machine)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sorted lines of `rabbitmqctl list_* -p vhost <columns>`.
fn listing(what: &str, vhost: &str, columns: &[&str]) -> Vec<String> {
    let mut args = vec![what, "-p", vhost, "--quiet", "--no-table-headers"];
    args.extend_from_slice(columns);
    let mut lines: Vec<String> = rabbitmqctl(&args)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

struct Vhost(String);

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.0])
            .output();
    }
}

fn fresh_vhost(tag: &str) -> Vhost {
    let name = format!("test-{tag}-{}", Uuid::new_v4().simple());
    rabbitmqctl(&["add_vhost", &name]);
    rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
    Vhost(name)
}

fn url_of(vhost: &str) -> String {
    format!("amqp://guest:guest@127.0.0.1:5672/{vhost}")
}

/// Waits until the (asynchronous) definitions import made the three queues.
async fn wait_for_queues(url: &str) {
    eventually(Duration::from_secs(20), || async {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .expect("broker");
        let ch = conn.create_channel().await.expect("channel");
        let mut missing = None;
        // The wait ladder's last queue is the file's last.
        for q in [
            "secret-sync.jobs",
            "secret-sync.events",
            "secret-sync.dead",
            "secret-sync.wait.120000ms",
        ] {
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            if ch
                .queue_declare(q.into(), passive, FieldTable::default())
                .await
                .is_err()
            {
                missing = Some(q);
                break;
            }
        }
        let _ = conn.close(200, "ok".into()).await;
        match missing {
            None => Ok(()),
            Some(q) => Err(format!("the definitions import has not made {q} yet")),
        }
    })
    .await;
}

#[tokio::test]
async fn rabbitmq_definitions_are_exactly_the_topology_the_worker_declares() {
    let definitions =
        std::fs::read_to_string(repo().join("deploy/rabbitmq/definitions.json")).expect("file");

    // 1. The definitions, loaded into a fresh vhost.
    let imported = fresh_vhost("defs");
    let text = definitions
        .replace(
            "\"vhost\": \"/\"",
            &format!("\"vhost\": \"{}\"", imported.0),
        )
        .replace("\"name\": \"/\"", &format!("\"name\": \"{}\"", imported.0));
    let file = std::env::temp_dir().join(format!("{}.json", imported.0));
    std::fs::write(&file, text).expect("temp file");
    rabbitmqctl(&["import_definitions", file.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&file);
    wait_for_queues(&url_of(&imported.0)).await;
    let columns: [(&str, &[&str]); 3] = [
        ("list_queues", &["name", "durable", "arguments"]),
        ("list_exchanges", &["name", "type", "durable"]),
        (
            "list_bindings",
            &[
                "source_name",
                "destination_name",
                "routing_key",
                "arguments",
            ],
        ),
    ];
    // Listed before the worker opens (which would declare what is missing).
    let from_file: Vec<Vec<String>> = columns
        .iter()
        .map(|(what, columns)| listing(what, &imported.0, columns))
        .collect();

    // 2. The worker opens against them: any argument mismatch would be a
    // PRECONDITION_FAILED and fail `Broker::open`.
    let broker = Broker::open(url_of(&imported.0).as_str(), Names::new(""), "deploy test")
        .await
        .unwrap_or_else(|e| panic!("the worker rejects the definitions: {e}"));
    broker.close("ok").await;

    // 3. And it added nothing: a vhost where only the worker declared has
    // the same queues (with arguments), exchanges and bindings.
    let declared = fresh_vhost("worker");
    let broker = Broker::open(url_of(&declared.0).as_str(), Names::new(""), "deploy test")
        .await
        .expect("worker declares");
    broker.close("ok").await;
    for ((what, columns), from_file) in columns.iter().zip(&from_file) {
        let from_worker = listing(what, &declared.0, columns);
        assert_eq!(from_file, &from_worker, "{what} differ");
        println!("{what}: {} entries match", from_file.len());
    }
    let queues = listing("list_queues", &imported.0, &["name", "arguments"]);
    assert!(
        queues
            .iter()
            .any(|q| q.starts_with("secret-sync.jobs") && q.contains("x-delivery-limit")),
        "{queues:?}"
    );
}

/// Runs an example client; returns the job id it prints.
fn run_client(env: &TestEnv, program: &str, script: &str, args: &[&str]) -> Uuid {
    let path = repo().join(script);
    let out = Command::new(program)
        .arg(&path)
        .args(args)
        .env("AMQP_URL", &env.settings.amqp_url)
        .env("QUEUE_PREFIX", &env.settings.queue_prefix)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (CI installs it): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{program} {script} failed (scripts/test installs pika and amqplib: \
         `pip install pika`, `npm ci` in examples/clients/node): {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    Uuid::parse_str(stdout.trim()).unwrap_or_else(|_| panic!("{program} printed {stdout:?}"))
}

#[tokio::test]
async fn python_and_node_clients_publish_jobs_the_worker_runs() {
    let mut env = TestEnv::new().await;
    let (src, sync) = env.one_sync().await;
    let sync_arg = sync.to_string();
    let clients = [
        ("python3", "examples/clients/python/enqueue.py"),
        ("node", "examples/clients/node/enqueue.js"),
    ];

    // Before any worker: the message as it sits on the queue.
    let conn = Connection::connect(&env.settings.amqp_url, ConnectionProperties::default())
        .await
        .expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    let mut queued = Vec::new();
    for (program, script) in clients {
        let job_id = run_client(&env, program, script, &["sync", &sync_arg]);
        queued.push(job_id);
        let msg = ch
            .basic_get(
                env.names.jobs_queue().as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await
            .expect("get")
            .unwrap_or_else(|| panic!("{program}: no message on the jobs queue"));
        let props = &msg.delivery.properties;
        assert_eq!(msg.delivery.routing_key.as_str(), "sync", "{program}");
        assert_eq!(*props.delivery_mode(), Some(2), "{program}: persistent");
        assert_eq!(
            props.content_type().as_ref().map(|c| c.as_str()),
            Some("application/json"),
            "{program}"
        );
        let job_id_text = job_id.to_string();
        assert_eq!(
            props.message_id().as_ref().map(|m| m.as_str()),
            Some(job_id_text.as_str()),
            "{program}: message_id is the job id"
        );
        let body: serde_json::Value = serde_json::from_slice(&msg.delivery.data).expect("json");
        assert_eq!(body["jobId"], job_id_text.as_str());
        assert_eq!(body["syncId"], sync_arg.as_str());
        assert_eq!(body["type"], "sync");
        // Held unacknowledged, so the next get sees the next client's
        // message; closing the connection hands both back.
    }
    let _ = conn.close(200, "ok".into()).await;

    // With a worker: the queued jobs run (the later one may be skipped as
    // superseded by the first's run, which read the same source).
    env.start_worker().await;
    let mut statuses = Vec::new();
    for job_id in queued {
        statuses.push(env.wait_job(job_id).await.status);
    }
    assert!(statuses.contains(&JobStatus::Succeeded), "{statuses:?}");
    // Then each client's job pushes the change made just before it.
    for (i, (program, script)) in clients.into_iter().enumerate() {
        let value = format!("v{i}");
        env.put_secret(src.folder, "A", &value).await;
        let job_id = run_client(&env, program, script, &["sync", &sync_arg]);
        let row = env.wait_job(job_id).await;
        assert_eq!(
            row.status,
            JobStatus::Succeeded,
            "{program}: {:?}",
            row.message
        );
        assert_eq!(row.trigger.as_deref(), Some("api"));
        let values = env.sandbox.values(ORG, "api", None);
        assert_eq!(values.len(), 1);
        assert_eq!(
            (values[0].key.as_str(), values[0].value.as_str()),
            ("A", value.as_str()),
            "{program}"
        );
    }

    // An import needs its behaviour: both clients refuse without it.
    for (program, script) in clients {
        let out = Command::new(program)
            .arg(repo().join(script))
            .args(["import", &sync_arg])
            .env("AMQP_URL", &env.settings.amqp_url)
            .env("QUEUE_PREFIX", &env.settings.queue_prefix)
            .output()
            .expect("runs");
        assert!(
            !out.status.success(),
            "{program} accepted an import without behaviour"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--import-behavior"),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.finish().await;
}
