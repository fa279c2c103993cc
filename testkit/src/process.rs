//! A real `secret-sync run` process (the binary tests get from Cargo), with
//! the harness's settings, its output in a log file, and its health port.
//! Tests kill only the processes they started.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use secret_sync::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::eventually::eventually;

pub struct WorkerProcess {
    child: Child,
    pub http: SocketAddr,
    /// HTTP_LISTEN: health and metrics (the same as `http` for `run`).
    pub health: SocketAddr,
    pub log: PathBuf,
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// The variables that make a child worker behave like the harness's settings.
pub fn worker_env(settings: &Settings) -> Vec<(&'static str, String)> {
    let w = &settings.worker;
    let r = &w.retry;
    let ca_file = settings.amqp_ca.as_ref().map(|ca| ca.path.clone());
    vec![
        ("DATABASE_URL", settings.database_url.clone()),
        ("AMQP_URL", settings.amqp_url.clone()),
        ("AMQP_CA_FILE", ca_file.unwrap_or_default()),
        ("HUMANITEC_API_URL", settings.humanitec_api_url.clone()),
        (
            "ENCRYPTION_KEY",
            settings.encryption_key.clone().unwrap_or_default(),
        ),
        ("QUEUE_PREFIX", settings.queue_prefix.clone()),
        ("WORKER_CONCURRENCY", w.concurrency.to_string()),
        ("HUMANITEC_TIMEOUT", millis(w.http_timeout)),
        ("SHUTDOWN_GRACE", millis(w.shutdown_grace)),
        ("JOB_STALE_AFTER", millis(w.stale_after)),
        ("HTTP_RETRIES", r.http_retries.to_string()),
        ("HTTP_RETRY_MIN_DELAY", millis(r.http_min_delay)),
        ("HTTP_RETRY_MAX_DELAY", millis(r.http_max_delay)),
        ("RETRY_AFTER_CAP", millis(r.retry_after_cap)),
        ("JOB_MAX_ATTEMPTS", r.job_max_attempts.to_string()),
        (
            "JOB_RETRY_DELAYS",
            r.job_retry_delays
                .iter()
                .map(|d| millis(*d))
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("SYNC_BUSY_DELAY", millis(r.busy_delay)),
        ("SYNC_DEBOUNCE", millis(settings.sync_debounce)),
        (
            "SYNC_DEBOUNCE_MAX_WAIT",
            millis(settings.sync_debounce_max_wait),
        ),
        (
            "SYNC_RECONCILE_INTERVAL",
            millis(settings.sync_reconcile_interval),
        ),
    ]
}

/// A port that was free a moment ago (for HTTP_LISTEN).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl WorkerProcess {
    /// Starts `exe run` with `settings`, then `extra` (which wins), appending
    /// stdout and stderr to `log`.
    pub fn spawn(exe: &str, settings: &Settings, extra: &[(&str, String)], log: &Path) -> Self {
        Self::spawn_with(exe, &["run"], settings, extra, log)
    }

    /// Starts `exe args...` (`run` or `api`): `http` is the port it serves
    /// on (HTTP_LISTEN for `run`, API_LISTEN for `api`); `api` also gets a
    /// port of its own for HTTP_LISTEN (its health and metrics), `health`.
    pub fn spawn_with(
        exe: &str,
        args: &[&str],
        settings: &Settings,
        extra: &[(&str, String)],
        log: &Path,
    ) -> Self {
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let health = if args.first() == Some(&"api") {
            SocketAddr::from(([127, 0, 0, 1], free_port()))
        } else {
            http
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("worker log file");
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .env("HTTP_LISTEN", health.to_string())
            .env("API_LISTEN", http.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(file.try_clone().expect("log handle")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        for (k, v) in worker_env(settings) {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("worker process starts");
        WorkerProcess {
            child,
            http,
            health,
            log: log.to_path_buf(),
        }
    }

    /// Deletes the log (call when the test passed; a failing test keeps it).
    pub fn remove_log(&self) {
        let _ = std::fs::remove_file(&self.log);
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, then reap.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then wait for the exit (at most `timeout`).
    pub async fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id()?.to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?
            .ok()
    }

    /// Still running (not exited)?
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// GET `path` on the worker's HTTP port: status and body, None if unreachable.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.http, path).await
    }

    /// Waits until `/readyz` answers `status`; returns how long it took.
    pub async fn wait_ready_status(&self, status: u16, timeout: Duration) -> Duration {
        self.wait_status("/readyz", status, timeout).await
    }

    /// Waits until `path` answers `status`; returns how long it took.
    pub async fn wait_status(&self, path: &str, status: u16, timeout: Duration) -> Duration {
        let start = tokio::time::Instant::now();
        eventually(timeout, || async {
            match self.get(path).await {
                Some((s, _)) if s == status => Ok(()),
                last => Err(format!(
                    "{path} answers {last:?}, not {status}; log: {}",
                    self.log.display()
                )),
            }
        })
        .await;
        start.elapsed()
    }
}

/// A minimal HTTP/1.1 GET (no client library needed for health checks).
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .ok()
        .flatten()
}

/// A Prometheus text exposition as series (name with labels) -> value.
pub fn metric_series(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}
