//! A local SMTP server for tests/it/email.rs: `scripts/smtp-server.py`
//! (aiosmtpd) on a free port of 127.0.0.1, with the [`TlsServers`]' server
//! certificate (for `localhost`), STARTTLS required or implicit TLS, and
//! AUTH that accepts one username and password. Each message lands as a
//! JSON file in its directory, each AUTH attempt as a line; the process is
//! killed and the directory removed when the guard drops.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::eventually::eventually;
use crate::process::free_port;
use crate::tls::TlsServers;

pub struct SmtpServer {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl SmtpServer {
    /// Starts the server (`tls`: implicit TLS; else STARTTLS required) and
    /// waits until it listens.
    pub async fn start(certs: &TlsServers, user: &str, password: &str, tls: bool) -> SmtpServer {
        let dir =
            std::env::temp_dir().join(format!("secret-sync-smtp-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("the SMTP server's directory");
        let port = free_port();
        let (cert, key) = certs.server_cert();
        let script = format!("{}/../scripts/smtp-server.py", env!("CARGO_MANIFEST_DIR"));
        let child = Command::new("python3")
            .arg(script)
            .args([
                port.to_string(),
                dir.display().to_string(),
                cert,
                key,
                user.to_string(),
                password.to_string(),
                if tls { "tls" } else { "starttls" }.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("server.log")).expect("log file"),
            ))
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs scripts/smtp-server.py (pip install aiosmtpd, see scripts/test)");
        let server = SmtpServer { child, dir, port };
        let ready = server.dir.join("ready");
        let log = server.dir.join("server.log");
        eventually(Duration::from_secs(20), || async {
            ready.exists().then_some(()).ok_or_else(|| {
                format!(
                    "not listening yet; its log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
        })
        .await;
        server
    }

    /// The messages received so far, in order: `mailFrom`, `rcptTos`,
    /// `from`, `to`, `subject`, `messageId`, `body` (decoded text), `raw`.
    pub fn messages(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|n| std::fs::read_to_string(self.dir.join(n)).ok())
            .filter_map(|text| serde_json::from_str(&text).ok())
            .collect()
    }

    /// The AUTH attempts so far: `ok` or `refused`, in order.
    pub fn auth_attempts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("auth.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
