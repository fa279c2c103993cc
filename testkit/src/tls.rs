//! TLS servers beside the machine's own, for tests/it/tls.rs: a CA and a
//! server certificate for `localhost` made per test, a Postgres with or
//! without TLS, a RabbitMQ node that only speaks AMQPS. Started by
//! `scripts/tls-servers` on free ports; stopped, their data removed, when
//! the guard drops (a failing test included).

use std::path::PathBuf;
use std::process::Command;

use uuid::Uuid;

use crate::process::free_port;

fn script() -> String {
    format!("{}/../scripts/tls-servers", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: Vec<String>) {
    let out = Command::new(script())
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("tls-servers did not start: {e}"));
    assert!(
        out.status.success(),
        "tls-servers {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory of certificates and the servers started from it.
pub struct TlsServers {
    dir: PathBuf,
    /// Postgres with TLS only (plain connections rejected), if started.
    pub postgres_tls: Option<u16>,
    /// Postgres without TLS, if started.
    pub postgres_plain: Option<u16>,
    /// RabbitMQ's AMQPS port, if started.
    pub rabbitmq: Option<u16>,
}

impl TlsServers {
    /// Makes the certificates (nothing runs yet).
    pub async fn certificates() -> TlsServers {
        let dir = std::env::temp_dir().join(format!("secret-sync-tls-{}", Uuid::new_v4().simple()));
        let servers = TlsServers {
            dir: dir.clone(),
            postgres_tls: None,
            postgres_plain: None,
            rabbitmq: None,
        };
        let d = dir.display().to_string();
        blocking(vec!["certs".into(), d]).await;
        servers
    }

    /// The CA that signed the servers' certificate (PEM).
    pub fn ca(&self) -> String {
        self.dir.join("certs/ca.pem").display().to_string()
    }

    /// The server certificate (for `localhost`, signed by [`Self::ca`])
    /// and its key, PEM: for servers a test starts itself.
    pub fn server_cert(&self) -> (String, String) {
        let certs = self.dir.join("certs");
        (
            certs.join("server.pem").display().to_string(),
            certs.join("server.key").display().to_string(),
        )
    }

    /// A CA that signed nothing here (the "wrong CA").
    pub fn other_ca(&self) -> String {
        self.dir.join("certs/other-ca.pem").display().to_string()
    }

    /// Starts Postgres with TLS (`true`: only TLS accepted) or without.
    pub async fn start_postgres(&mut self, tls: bool) -> u16 {
        let port = free_port();
        // One data directory per server: a second one gets a sub-directory.
        let dir = match tls {
            true => self.dir.clone(),
            false => self.dir.join("plain"),
        };
        if !tls {
            std::fs::create_dir_all(&dir).expect("a directory for the plain server");
        }
        let on = if tls { "on" } else { "off" };
        blocking(vec![
            "postgres".into(),
            dir.display().to_string(),
            port.to_string(),
            on.into(),
        ])
        .await;
        match tls {
            true => self.postgres_tls = Some(port),
            false => self.postgres_plain = Some(port),
        }
        port
    }

    /// Starts a RabbitMQ node that only listens for AMQPS; its port.
    pub async fn start_rabbitmq(&mut self) -> u16 {
        let (port, dist) = (free_port(), free_port());
        blocking(vec![
            "rabbitmq".into(),
            self.dir.display().to_string(),
            port.to_string(),
            dist.to_string(),
        ])
        .await;
        self.rabbitmq = Some(port);
        port
    }
}

async fn blocking(args: Vec<String>) {
    tokio::task::spawn_blocking(move || run(args))
        .await
        .expect("tls-servers");
}

impl Drop for TlsServers {
    fn drop(&mut self) {
        let plain = self.dir.join("plain");
        for dir in [plain, self.dir.clone()] {
            let _ = Command::new(script())
                .args(["stop", &dir.display().to_string()])
                .output();
        }
    }
}
