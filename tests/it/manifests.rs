//! The Kubernetes manifests run as Kubernetes runs them. From
//! `deploy/k8s/kustomization.yaml`'s resources, each Job and Deployment:
//! the command its container runs (the image's `ENTRYPOINT`/`CMD` from
//! `deploy/Dockerfile`, then the manifest's `command`/`args`), with the
//! environment the manifest gives it (`envFrom` the ConfigMap, `env`, the
//! Secret's keys written as files where its volume is mounted, read through
//! `*_FILE`). A Job exits 0. A Deployment answers 200 on every probe path
//! (`startupProbe`, `livenessProbe`, `readinessProbe`) and on the
//! Prometheus scrape path (`prometheus.io/path` on `prometheus.io/port`),
//! each on the port the manifest names; with its database unreachable,
//! readiness answers 503 while liveness and metrics still answer 200 (in
//! time for the probe's `timeoutSeconds`), and readiness comes back when
//! the database does; SIGTERM ends it within `terminationGracePeriodSeconds`.
//! Each Service's `targetPort` is a port the process opens.
//!
//! What the test changes, and only that: the Secret's values (its own
//! database through a proxy it can cut, its broker, a fresh key), the
//! endpoints in the ConfigMap (the Humanitec sandbox, its queue prefix),
//! the mount paths (a temporary directory), and every listen address
//! (`0.0.0.0:9090`): a free loopback port stands in for the container's
//! port, as the pod's own network would. The mapping is printed.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use secret_sync_testkit::*;
use serde_json::Value;
use tokio::process::{Child, Command};

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every object of the resources `kustomization.yaml` lists.
fn objects() -> Vec<Value> {
    let dir = repo().join("deploy/k8s");
    let kustomization = yaml(&read(&dir.join("kustomization.yaml")));
    kustomization["resources"]
        .as_array()
        .expect("kustomization.yaml lists its resources")
        .iter()
        .flat_map(|r| {
            let file = r.as_str().expect("a resource is a file name");
            yaml_documents(&read(&dir.join(file)))
        })
        .collect()
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} `{name}` in deploy/k8s"))
}

fn name_of(o: &Value) -> String {
    o["metadata"]["name"]
        .as_str()
        .expect("metadata.name")
        .to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A map of strings (`data`, `stringData`, annotations).
fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The product image's `ENTRYPOINT` and `CMD` (exec form, the last stage
/// of `deploy/Dockerfile`).
fn image_command() -> (Vec<String>, Vec<String>) {
    let dockerfile = read(&repo().join("deploy/Dockerfile"));
    let last_stage = dockerfile
        .rsplit_once("\nFROM ")
        .map_or(dockerfile.as_str(), |(_, s)| s);
    let exec_form = |instruction: &str| -> Vec<String> {
        last_stage
            .lines()
            .filter_map(|l| l.strip_prefix(instruction))
            .next_back()
            .map(|json| serde_json::from_str(json.trim()).expect("exec form (JSON)"))
            .unwrap_or_default()
    };
    (exec_form("ENTRYPOINT "), exec_form("CMD "))
}

/// The Secret's keys with the test's values; a key the test does not know
/// fails it (tell it what the new key should hold).
fn test_secret(objects: &[Value], name: &str, env: &TestEnv, database_url: &str) -> Secret {
    let secret = named(objects, "Secret", name);
    let mut data = string_map(&secret["stringData"]);
    assert!(
        secret["data"].is_null(),
        "Secret {name}: the test reads stringData only"
    );
    for (key, value) in data.iter_mut() {
        *value = match key.as_str() {
            "DATABASE_URL" => database_url.to_string(),
            "AMQP_URL" => env.settings.amqp_url.clone(),
            "ENCRYPTION_KEY" => env.settings.encryption_key.clone().expect("a key"),
            other => panic!("Secret {name} has key {other}: teach this test its value"),
        };
    }
    data
}

type Secret = BTreeMap<String, String>;

/// A workload's container, ready to start here.
struct Pod {
    workload: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    /// Port name to container port.
    port_names: HashMap<String, u16>,
    /// Container port (the manifest's) to the loopback address that
    /// stands in for it, and the variable that opens it.
    ports: HashMap<u16, (SocketAddr, String)>,
    files: PathBuf,
    log: PathBuf,
}

impl Pod {
    fn new(objects: &[Value], workload: &Value, env: &TestEnv, database_url: &str) -> Pod {
        let name = name_of(workload);
        let spec = &workload["spec"]["template"]["spec"];
        let containers = spec["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{name}: one container");
        let c = &containers[0];

        // The command: the image's entrypoint unless `command` replaces it,
        // then `args` (or the image's CMD when there are none).
        let (entrypoint, cmd) = image_command();
        let command = if c["command"].is_null() {
            entrypoint
        } else {
            strings(&c["command"])
        };
        let args = if c["args"].is_null() {
            cmd
        } else {
            strings(&c["args"])
        };
        let (exe, leading) = command.split_first().expect("a command");
        assert!(
            exe == "secret-sync" || exe.ends_with("/secret-sync"),
            "{name} runs {exe}, not secret-sync"
        );
        let args: Vec<String> = leading.iter().cloned().chain(args).collect();

        let configmap = |cm: &str| {
            let mut data = string_map(&named(objects, "ConfigMap", cm)["data"]);
            // The endpoints are the test's own.
            for (key, value) in data.iter_mut() {
                match key.as_str() {
                    "HUMANITEC_API_URL" => *value = env.sandbox.base_url(),
                    "QUEUE_PREFIX" => *value = env.settings.queue_prefix.clone(),
                    _ => {}
                }
            }
            data
        };
        let secret = |s: &str| test_secret(objects, s, env, database_url);

        // envFrom first, env over it (as the kubelet does).
        let mut vars = BTreeMap::new();
        for from in c["envFrom"].as_array().into_iter().flatten() {
            assert!(from["prefix"].is_null(), "{name}: envFrom prefix");
            if let Some(cm) = from["configMapRef"]["name"].as_str() {
                vars.extend(configmap(cm));
            } else if let Some(s) = from["secretRef"]["name"].as_str() {
                vars.extend(secret(s));
            } else {
                panic!("{name}: envFrom {from}: not understood by this test");
            }
        }
        for e in c["env"].as_array().into_iter().flatten() {
            let var = e["name"].as_str().expect("env name").to_string();
            let value = if let Some(v) = e["value"].as_str() {
                v.to_string()
            } else if let Some(r) = e["valueFrom"]["secretKeyRef"].as_object() {
                let key = r["key"].as_str().expect("key");
                secret(r["name"].as_str().expect("name"))[key].clone()
            } else if let Some(r) = e["valueFrom"]["configMapKeyRef"].as_object() {
                let key = r["key"].as_str().expect("key");
                configmap(r["name"].as_str().expect("name"))[key].clone()
            } else {
                panic!("{name}: env {e}: not understood by this test");
            };
            vars.insert(var, value);
        }

        // Volumes: a Secret's (the test's values) or a ConfigMap's keys as
        // files where the manifest mounts them, as the kubelet writes them
        // (the bytes alone, `defaultMode`); an emptyDir empty.
        let files = std::env::temp_dir().join(format!("manifests-{name}-{}", uuid::Uuid::new_v4()));
        let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
        for mount in c["volumeMounts"].as_array().into_iter().flatten() {
            let mount_path = mount["mountPath"].as_str().expect("mountPath");
            let volume = volumes
                .iter()
                .find(|v| v["name"] == mount["name"])
                .unwrap_or_else(|| panic!("{name}: mount {mount} names no volume"));
            let (source, values) = if let Some(s) = volume["secret"]["secretName"].as_str() {
                (&volume["secret"], secret(s))
            } else if let Some(cm) = volume["configMap"]["name"].as_str() {
                (&volume["configMap"], configmap(cm))
            } else if volume["emptyDir"].is_object() {
                (&Value::Null, BTreeMap::new())
            } else {
                panic!("{name}: volume {volume}: not understood by this test");
            };
            // `items` picks keys (and names their files); none: every key.
            let items: Vec<(String, String)> = match source["items"].as_array() {
                Some(items) => items
                    .iter()
                    .map(|i| {
                        let key = i["key"].as_str().expect("key").to_string();
                        (key, i["path"].as_str().expect("path").to_string())
                    })
                    .collect(),
                None => values.keys().map(|k| (k.clone(), k.clone())).collect(),
            };
            let here = files.join(mount_path.trim_start_matches('/'));
            std::fs::create_dir_all(&here).expect("mount directory");
            for (key, path) in items {
                let file = here.join(&path);
                let value = values
                    .get(&key)
                    .unwrap_or_else(|| panic!("{name}: volume {volume}: no key {key}"));
                std::fs::write(&file, value).expect("volume file");
                if let Some(mode) = source["defaultMode"].as_u64() {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = u32::try_from(mode).expect("a mode");
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))
                        .expect("mode");
                }
            }
            // Paths under the mount point to the files here.
            let prefix = format!("{}/", mount_path.trim_end_matches('/'));
            for value in vars.values_mut() {
                if let Some(rest) = value.strip_prefix(&prefix) {
                    *value = here.join(rest).to_string_lossy().into_owned();
                }
            }
        }

        // Every listen address gets a free loopback port; the container
        // ports map to them.
        let mut ports = HashMap::new();
        for (var, value) in vars.iter_mut() {
            if let Ok(addr) = value.parse::<SocketAddr>() {
                let here = SocketAddr::from(([127, 0, 0, 1], free_port()));
                ports.insert(addr.port(), (here, var.clone()));
                *value = here.to_string();
            }
        }
        let mut port_names = HashMap::new();
        for p in c["ports"].as_array().into_iter().flatten() {
            let number = p["containerPort"].as_u64().expect("containerPort") as u16;
            assert!(
                ports.contains_key(&number),
                "{name} declares port {number}, but no listen variable of its environment opens it: {vars:?}"
            );
            if let Some(port_name) = p["name"].as_str() {
                port_names.insert(port_name.to_string(), number);
            }
        }
        Pod {
            log: files.join("log"),
            workload: name,
            args,
            env: vars,
            port_names,
            ports,
            files,
        }
    }

    /// A probe's or a Service's port (a name or a number): the address here.
    fn local(&self, port: &Value) -> SocketAddr {
        let number = match port {
            Value::String(name) => match name.parse::<u16>() {
                Ok(n) => n,
                Err(_) => *self.port_names.get(name).unwrap_or_else(|| {
                    panic!("{}: no container port is named {name}", self.workload)
                }),
            },
            other => other.as_u64().expect("a port") as u16,
        };
        self.ports
            .get(&number)
            .unwrap_or_else(|| {
                panic!(
                    "{}: port {number} is used, but nothing in the container's environment listens on it",
                    self.workload
                )
            })
            .0
    }

    fn print_ports(&self) {
        let mut ports: Vec<_> = self.ports.iter().collect();
        ports.sort_by_key(|(p, _)| **p);
        for (port, (here, var)) in ports {
            println!("{}: container port {port} ({var}) -> {here}", self.workload);
        }
    }

    fn spawn(&self) -> Child {
        let log = std::fs::File::create(&self.log).expect("log file");
        let mut cmd = Command::new(EXE);
        // Only what the manifest gives (no DATABASE_URL of this shell
        // beside a DATABASE_URL_FILE).
        cmd.env_clear()
            .args(&self.args)
            .envs(&self.env)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        cmd.spawn().expect("secret-sync starts")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn remove_files(&self) {
        let _ = std::fs::remove_dir_all(&self.files);
    }
}

/// One HTTP GET probe of a container.
struct Probe {
    kind: &'static str,
    path: String,
    addr: SocketAddr,
    /// The kubelet gives up on an answer after this long.
    timeout: Duration,
    /// How long the kubelet lets it fail before acting.
    budget: Duration,
}

fn probes(pod: &Pod, container: &Value) -> Vec<Probe> {
    ["startupProbe", "livenessProbe", "readinessProbe"]
        .into_iter()
        .filter(|kind| !container[*kind].is_null())
        .map(|kind| {
            let p = &container[kind];
            let get = &p["httpGet"];
            assert!(
                get.is_object(),
                "{}: {kind} is not an httpGet probe: teach this test",
                pod.workload
            );
            assert!(
                get["scheme"].is_null() || get["scheme"] == "HTTP",
                "{}: {kind} scheme",
                pod.workload
            );
            let secs = |field: &str, default: u64| {
                Duration::from_secs(p[field].as_u64().unwrap_or(default))
            };
            Probe {
                kind,
                path: get["path"].as_str().unwrap_or("/").to_string(),
                addr: pod.local(&get["port"]),
                timeout: secs("timeoutSeconds", 1),
                budget: secs("periodSeconds", 10)
                    * p["failureThreshold"].as_u64().unwrap_or(3) as u32,
            }
        })
        .collect()
}

/// GETs `path` until it answers `status` (the process must not exit
/// meanwhile); returns the time it took.
async fn answers(
    pod: &Pod,
    child: &mut Child,
    addr: SocketAddr,
    path: &str,
    status: u16,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    // A probe's own rhythm, as the kubelet's: what is awaited is the answer.
    let mut probe = secret_sync_testkit::pace::Pacer::every(Duration::from_millis(100));
    loop {
        let last = match http_get(addr, path).await {
            Some((s, _)) if s == status => return start.elapsed(),
            other => other.map(|(s, _)| s),
        };
        // A path the process does not serve stays unserved.
        assert_ne!(
            last,
            Some(404),
            "{}: {path} on {addr} is not served (404); its output:\n{}",
            pod.workload,
            pod.log_text()
        );
        if let Ok(Some(exit)) = child.try_wait() {
            panic!(
                "{} exited ({exit}) before {path} answered {status}; its output:\n{}",
                pod.workload,
                pod.log_text()
            );
        }
        assert!(
            start.elapsed() < within,
            "{}: {path} on {addr} answers {last:?}, not {status}, after {within:?}; its output:\n{}",
            pod.workload,
            pod.log_text()
        );
        probe.tick().await;
    }
}

/// One GET, answered with `status` within `within`.
async fn answers_now(
    pod: &Pod,
    addr: SocketAddr,
    path: &str,
    status: u16,
    within: Duration,
) -> String {
    let start = Instant::now();
    let got = http_get(addr, path).await;
    let took = start.elapsed();
    match got {
        Some((s, body)) if s == status => {
            assert!(
                took <= within,
                "{}: {path} answered {status} after {took:?}; the kubelet waits {within:?}",
                pod.workload
            );
            body
        }
        other => panic!(
            "{}: {path} on {addr} answers {other:?}, not {status}; its output:\n{}",
            pod.workload,
            pod.log_text()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_runs_as_its_manifest_declares_and_answers_its_probes_and_scrapes() {
    let env = TestEnv::new().await;
    let objects = objects();

    // Jobs (the migration): run to completion.
    let jobs: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Job").collect();
    assert!(!jobs.is_empty(), "deploy/k8s has the migration Job");
    for job in jobs {
        let pod = Pod::new(&objects, job, &env, &env.settings.database_url);
        let mut child = pod.spawn();
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} still runs after 60 s", pod.workload))
            .expect("exit status");
        assert!(
            status.success(),
            "{} {:?} failed ({status}):\n{}",
            pod.workload,
            pod.args,
            pod.log_text()
        );
        println!("{} {:?}: done", pod.workload, pod.args);
        pod.remove_files();
    }

    let deployments: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .collect();
    assert!(
        deployments.len() >= 2,
        "deploy/k8s runs the worker and the API"
    );
    for deployment in deployments {
        // Its own way to the database, to cut.
        let (db, database_url) = Proxy::in_front_of(&env.settings.database_url).await;
        let pod = Pod::new(&objects, deployment, &env, &database_url);
        pod.print_ports();
        let template = &deployment["spec"]["template"];
        let container = &template["spec"]["containers"][0];
        let probes = probes(&pod, container);
        for kind in ["livenessProbe", "readinessProbe"] {
            assert!(
                probes.iter().any(|p| p.kind == kind),
                "{}: no {kind}",
                pod.workload
            );
        }
        let annotations = string_map(&template["metadata"]["annotations"]);
        assert_eq!(
            annotations.get("prometheus.io/scrape").map(String::as_str),
            Some("true"),
            "{}: Prometheus scrapes it",
            pod.workload
        );
        let scrape_path = annotations
            .get("prometheus.io/path")
            .cloned()
            .unwrap_or_else(|| "/metrics".into());
        let scrape = pod.local(&Value::String(
            annotations
                .get("prometheus.io/port")
                .cloned()
                .unwrap_or_else(|| panic!("{}: prometheus.io/port", pod.workload)),
        ));
        // Each Service in front of it sends to a port it opens.
        let labels = &template["metadata"]["labels"];
        for service in objects.iter().filter(|o| o["kind"] == "Service") {
            let selector = service["spec"]["selector"].as_object().expect("selector");
            if selector.iter().all(|(k, v)| &labels[k] == v) {
                for port in service["spec"]["ports"].as_array().into_iter().flatten() {
                    let target = if port["targetPort"].is_null() {
                        &port["port"]
                    } else {
                        &port["targetPort"]
                    };
                    pod.local(target);
                }
            }
        }

        let mut child = pod.spawn();
        let grace = Duration::from_secs(
            template["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30),
        );
        // Started within the startup probe's budget, then every probe and
        // the scrape answer 200.
        let startup = probes
            .iter()
            .find(|p| p.kind == "startupProbe")
            .map_or(Duration::from_secs(60), |p| p.budget);
        let ready = probes
            .iter()
            .find(|p| p.kind == "readinessProbe")
            .expect("readiness");
        let took = answers(&pod, &mut child, ready.addr, &ready.path, 200, startup).await;
        println!("{}: ready after {took:?}", pod.workload);
        for p in &probes {
            answers_now(&pod, p.addr, &p.path, 200, p.timeout).await;
            println!("{}: {} {} on {}: 200", pod.workload, p.kind, p.path, p.addr);
        }
        let metrics = answers_now(&pod, scrape, &scrape_path, 200, Duration::from_secs(10)).await;
        assert!(
            metrics.contains("secret_sync_build_info{"),
            "{}: {scrape_path} is not the product's metrics:\n{metrics}",
            pod.workload
        );
        println!("{}: scrape {scrape_path} on {scrape}: 200", pod.workload);

        // The database unreachable: not ready, but alive (no restart) and
        // still scraped.
        db.cut();
        let took = answers(
            &pod,
            &mut child,
            ready.addr,
            &ready.path,
            503,
            ready.budget * 2,
        )
        .await;
        println!(
            "{}: database cut, readiness 503 after {took:?}",
            pod.workload
        );
        for p in probes.iter().filter(|p| p.kind != "readinessProbe") {
            answers_now(&pod, p.addr, &p.path, 200, p.timeout).await;
        }
        answers_now(&pod, scrape, &scrape_path, 200, Duration::from_secs(10)).await;
        db.restore();
        let took = answers(
            &pod,
            &mut child,
            ready.addr,
            &ready.path,
            200,
            ready.budget * 2,
        )
        .await;
        println!("{}: database back, ready after {took:?}", pod.workload);

        // SIGTERM: gone within the grace period, cleanly.
        let pid = child.id().expect("running").to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let exit = tokio::time::timeout(grace, child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} outlives its grace period {grace:?}", pod.workload))
            .expect("exit status");
        assert!(
            exit.success(),
            "{}: {exit}\n{}",
            pod.workload,
            pod.log_text()
        );
        pod.remove_files();
    }
    env.finish().await;
}
