use std::net::SocketAddr;
use std::time::Duration;

use super::vars::{self, LogFormat, Rate, Vars};
use super::ConfigError;

/// How failures are retried: quick in-process HTTP retries, then job-level
/// retries as delayed redeliveries through the broker.
#[derive(Clone, Debug)]
pub struct RetrySettings {
    /// In-process retries of one Humanitec call on 429/5xx/timeouts/resets.
    pub http_retries: usize,
    pub http_min_delay: Duration,
    pub http_max_delay: Duration,
    /// Longest Retry-After honoured in process; longer waits go to the broker.
    pub retry_after_cap: Duration,
    /// Total attempts of a job (1 = no job-level retry).
    pub job_max_attempts: u32,
    /// Delay before attempt 2, 3, ...; the last one repeats.
    pub job_retry_delays: Vec<Duration>,
    /// Delay before a job whose sync is busy (run by another worker) tries again.
    pub busy_delay: Duration,
    /// Times a job may be put back without running (sync busy, database
    /// unreachable) before it fails saying why: nothing cycles for ever.
    pub max_deferrals: u32,
}

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Jobs run at once by one process (also the broker prefetch).
    pub concurrency: u16,
    /// Most Humanitec writes in flight per connection (the adaptive limit's cap).
    pub write_concurrency: usize,
    /// Adapt the write limit to how Humanitec answers (else fixed at the cap).
    pub write_adaptive: bool,
    /// How often the fleet's writers share their windows (zero: never;
    /// `engine::maintenance::fleet`).
    pub fleet_every: Duration,
    pub http_timeout: Duration,
    pub shutdown_grace: Duration,
    /// A running job whose heartbeat is older than this is considered dead.
    pub stale_after: Duration,
    /// How often the dead-letter queue is scanned for jobs to record failed.
    pub rescue_every: Duration,
    pub http_listen: SocketAddr,
    /// How often the gauges read from Postgres and RabbitMQ are refreshed.
    pub metrics_refresh: Duration,
    /// How long a pause of Humanitec writes may last before the alert rule
    /// fires (exported as `secret_sync_pause_alert_after_seconds`).
    pub pause_alert_after: Duration,
    pub retry: RetrySettings,
}

/// The dashboard's server-side sessions: both ends are checked by the
/// server on every request, whatever the browser keeps.
#[derive(Clone, Copy, Debug)]
pub struct SessionSettings {
    /// From sign-in to the end, however busy (`SESSION_MAX_AGE`).
    pub max_age: Duration,
    /// Without a request for this long, the session ends (`SESSION_IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
}

/// What every HTTP listener (API and dashboard, the worker's health and
/// metrics) holds against slow or greedy clients.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// A request's head must arrive within this (slowloris).
    pub header_read_timeout: Duration,
    /// A request must be answered within this, body read included.
    pub request_timeout: Duration,
    /// A request's body must have arrived within this of its head (slow
    /// bodies); else 408 and the connection is closed.
    pub body_read_timeout: Duration,
    /// A keep-alive connection without a request is closed after this (or
    /// after `header_read_timeout`, whichever is shorter: hyper's head timer
    /// also runs while waiting for the next request).
    pub idle_timeout: Duration,
    /// Open connections at most; beyond it the oldest without a request
    /// in progress (idle, or still sending its head or body) is closed to
    /// make room.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 1024,
        }
    }
}

/// How notifications are sent (`engine/maintenance/notifier.rs`) and how
/// many channels a project may have (`NOTIFY_*`, docs/notifications.md).
#[derive(Clone, Debug)]
pub struct NotifySettings {
    /// Sends in flight at once per worker process.
    pub concurrency: usize,
    /// Sends in flight at once to one channel, across all workers.
    pub channel_concurrency: usize,
    /// Sends in flight at once for one project, across all workers.
    pub project_concurrency: usize,
    /// One send's deadline (DNS, connect, request and answer).
    pub send_timeout: Duration,
    /// A target's DNS lookup's deadline.
    pub dns_timeout: Duration,
    /// A claimed delivery is held this long, and extended while its send runs.
    pub claim_for: Duration,
    /// A delivery still failing this long after its first event is given up
    /// (the channel shows why).
    pub give_up_after: Duration,
    /// Channels per project at most.
    pub max_channels_per_project: usize,
    /// `NOTIFY_SMTP_CA_FILE`, read and checked: CAs trusted for email
    /// channels' SMTP servers beside the public ones.
    pub smtp_ca: Option<SmtpCa>,
}

/// The CAs of `NOTIFY_SMTP_CA_FILE` (DER), read once when the settings are.
#[derive(Clone)]
pub struct SmtpCa {
    pub path: String,
    pub certs: std::sync::Arc<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for SmtpCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpCa")
            .field("path", &self.path)
            .field("certs", &self.certs.len())
            .finish()
    }
}

/// Per-token limits on the API's costly calls.
#[derive(Clone, Debug)]
pub struct RateLimits {
    /// Sync, import and remove triggers (API and dashboard).
    pub triggers: Rate,
    /// Previews (each spends the connection's Humanitec rate limit).
    pub previews: Rate,
    /// Creates, updates and deletes of syncs and connections.
    pub writes: Rate,
    /// Dead-letter pages and actions (each reads the dead-letter queue).
    pub dead_letters: Rate,
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub amqp_url: String,
    /// `AMQP_CA_FILE`, read and checked: the CAs trusted for `amqps://`
    /// nodes (None: the public ones).
    pub amqp_ca: Option<AmqpCa>,
    pub humanitec_api_url: String,
    /// Base64 of 32 bytes; validated by `crypto::EncryptionKey` when needed.
    pub encryption_key: Option<String>,
    /// During a key rotation: the old key, accepted for reading only.
    pub encryption_key_previous: Option<String>,
    pub queue_prefix: String,
    pub api_listen: SocketAddr,
    pub log_format: LogFormat,
    /// Postgres connections per process, independent of concurrency: no
    /// job holds a connection while it waits for Humanitec.
    pub database_pool_size: usize,
    /// Prepared statements cached per connection (default); false for
    /// PgBouncer in transaction mode before 1.21.
    pub database_prepared_statements: bool,
    /// Sync jobs are published this long after the first request, and start
    /// only once no request has folded into them for this long (a trailing
    /// debounce); requests arriving meanwhile fold into the same job.
    pub sync_debounce: Duration,
    /// ...but a sync job waits at most this long after its first request,
    /// so a never-ending stream of changes still syncs.
    pub sync_debounce_max_wait: Duration,
    /// Every auto-synced sync is re-run this often (drift repair); zero: off.
    pub sync_reconcile_interval: Duration,
    /// Notifications of one channel wait this long for others to join them
    /// in one digest.
    pub notify_digest_window: Duration,
    /// How often each worker looks in the outbox for notifications to send.
    pub notify_poll_every: Duration,
    /// Lets notification channels target loopback and private addresses.
    pub notify_allow_private_targets: bool,
    pub notify: NotifySettings,
    /// Where the dashboard is, for links in notifications.
    pub dashboard_url: Option<String>,
    pub session: SessionSettings,
    /// Audit entries older than this are deleted by the API's sweep.
    pub audit_retention: Duration,
    pub http_limits: HttpLimits,
    pub rate_limits: RateLimits,
    /// Dead letters read (and held) at most by one dead-letter action or
    /// page; `dead requeue all` goes through the queue in pages this size.
    pub dead_letter_page_size: usize,
    pub worker: WorkerSettings,
}

impl std::fmt::Debug for Settings {
    // Hand-written so that the key (and credentials in URLs) never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("amqp_url", &redact_url(&self.amqp_url))
            .field("amqp_ca_file", &self.amqp_ca.as_ref().map(|ca| &ca.path))
            .field("humanitec_api_url", &self.humanitec_api_url)
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "<set>"),
            )
            .field(
                "encryption_key_previous",
                &self.encryption_key_previous.as_ref().map(|_| "<set>"),
            )
            .field("queue_prefix", &self.queue_prefix)
            .field("api_listen", &self.api_listen)
            .field("log_format", &self.log_format)
            .field("database_pool_size", &self.database_pool_size)
            .field(
                "database_prepared_statements",
                &self.database_prepared_statements,
            )
            .field("sync_debounce", &self.sync_debounce)
            .field("sync_debounce_max_wait", &self.sync_debounce_max_wait)
            .field("sync_reconcile_interval", &self.sync_reconcile_interval)
            .field("notify_digest_window", &self.notify_digest_window)
            .field("notify_poll_every", &self.notify_poll_every)
            .field(
                "notify_allow_private_targets",
                &self.notify_allow_private_targets,
            )
            .field("notify", &self.notify)
            .field("dashboard_url", &self.dashboard_url)
            .field("session", &self.session)
            .field("audit_retention", &self.audit_retention)
            .field("http_limits", &self.http_limits)
            .field("rate_limits", &self.rate_limits)
            .field("dead_letter_page_size", &self.dead_letter_page_size)
            .field("worker", &self.worker)
            .finish()
    }
}

pub use crate::model::redact_url;

impl Settings {
    /// How a command reaches the database: `DATABASE_URL`,
    /// `DATABASE_PREPARED_STATEMENTS`, and at most `max_connections`.
    pub fn store(&self, max_connections: usize) -> crate::store::StoreConfig<'_> {
        crate::store::StoreConfig {
            database_url: &self.database_url,
            max_connections,
            prepared_statements: self.database_prepared_statements,
        }
    }
}

impl Settings {
    /// Reads the process environment (through clap's `env`). Every value is
    /// checked before this returns, so nothing is connected to with a bad
    /// one; the error lists every bad value at once.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::checked(vars::from_env(), Needs::Nothing)
    }

    /// As `from_env`, for commands that cannot work without ENCRYPTION_KEY
    /// (the worker, the API): a missing key is one more error in the list.
    pub fn from_env_with_key() -> Result<Self, ConfigError> {
        Self::checked(vars::from_env(), Needs::EncryptionKey)
    }

    /// Reads settings through `lookup` (a variable name to its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::checked(vars::from_lookup(lookup), Needs::Nothing)
    }

    fn checked(read: vars::Read, needs: Needs) -> Result<Self, ConfigError> {
        let mut errors = read.errors;
        let settings = read.vars.map(|v| Self::from_vars(v, &mut errors));
        if let Some(s) = &settings {
            if needs == Needs::EncryptionKey && s.encryption_key.is_none() {
                errors.push(ConfigError::MissingEncryptionKey);
            }
        }
        match (ConfigError::from_list(errors), settings) {
            (None, Some(settings)) => Ok(settings),
            (Some(error), _) => Err(error),
            (None, None) => Err(ConfigError::Invalid {
                var: "configuration".into(),
                reason: "could not be read".into(),
            }),
        }
    }

    /// Checks what one value alone cannot (bounds, URLs, the key) and
    /// builds the settings; each problem is pushed to `errors`.
    fn from_vars(v: Vars, errors: &mut Vec<ConfigError>) -> Self {
        let mut bad = |var: &'static str, reason: String| {
            errors.push(ConfigError::Invalid {
                var: var.into(),
                reason,
            })
        };
        for (var, value, least) in [
            ("JOB_MAX_ATTEMPTS", v.job_max_attempts as usize, 1),
            ("WORKER_CONCURRENCY", usize::from(v.worker_concurrency), 1),
            ("DATABASE_POOL_SIZE", v.database_pool_size, 2),
            ("HTTP_MAX_CONNECTIONS", v.http_max_connections, 1),
            ("NOTIFY_CONCURRENCY", v.notify_concurrency, 1),
            (
                "NOTIFY_CHANNEL_CONCURRENCY",
                v.notify_channel_concurrency,
                1,
            ),
            (
                "NOTIFY_PROJECT_CONCURRENCY",
                v.notify_project_concurrency,
                1,
            ),
            (
                "NOTIFY_MAX_CHANNELS_PER_PROJECT",
                v.notify_max_channels_per_project,
                1,
            ),
            ("DEAD_LETTER_PAGE_SIZE", v.dead_letter_page_size, 1),
        ] {
            if value < least {
                bad(var, format!("must be at least {least}, got {value}"));
            }
        }
        if v.queue_prefix.len() > 100 || v.queue_prefix.chars().any(|c| c.is_whitespace()) {
            bad(
                "QUEUE_PREFIX",
                "must be at most 100 characters without spaces".into(),
            );
        }
        // Periods of a ticking task cannot be zero (it would spin).
        let ms = Duration::from_millis(1);
        for (var, value, least, text) in [
            (
                "SESSION_MAX_AGE",
                v.session_max_age,
                Duration::from_secs(1),
                "1s",
            ),
            (
                "SESSION_IDLE_TIMEOUT",
                v.session_idle_timeout,
                Duration::from_secs(1),
                "1s",
            ),
            ("METRICS_REFRESH", v.metrics_refresh, ms, "1ms"),
            ("JOB_RESCUE_EVERY", v.job_rescue_every, ms, "1ms"),
            ("NOTIFY_POLL_EVERY", v.notify_poll_every, ms, "1ms"),
            ("NOTIFY_SEND_TIMEOUT", v.notify_send_timeout, ms, "1ms"),
            ("NOTIFY_DNS_TIMEOUT", v.notify_dns_timeout, ms, "1ms"),
            (
                "NOTIFY_CLAIM_FOR",
                v.notify_claim_for,
                Duration::from_millis(100),
                "100ms",
            ),
        ] {
            if value < least {
                bad(var, format!("must be at least {text}"));
            }
        }
        if let Err(reason) = check_database_url(&v.database_url) {
            bad("DATABASE_URL", reason);
        }
        if let Err(reason) = check_amqp_url(&v.amqp_url) {
            bad("AMQP_URL", reason);
        }
        let amqp_ca = match v
            .amqp_ca_file
            .as_deref()
            .map(|path| AmqpCa::read(path, &v.amqp_url))
        {
            Some(Err(reason)) => {
                bad("AMQP_CA_FILE", reason);
                None
            }
            Some(Ok(ca)) => Some(ca),
            None => None,
        };
        let smtp_ca = match v.notify_smtp_ca_file.as_deref().map(|path| {
            crate::tls::ca_certs_from_file("NOTIFY_SMTP_CA_FILE", std::path::Path::new(path)).map(
                |certs| SmtpCa {
                    path: path.to_string(),
                    certs: std::sync::Arc::new(certs),
                },
            )
        }) {
            Some(Err(e)) => {
                bad("NOTIFY_SMTP_CA_FILE", e.reason);
                None
            }
            Some(Ok(ca)) => Some(ca),
            None => None,
        };
        if let Err(reason) = check_http_url(&v.humanitec_api_url) {
            bad("HUMANITEC_API_URL", reason);
        }
        if let Some(Err(reason)) = v.dashboard_url.as_deref().map(check_http_url) {
            bad("DASHBOARD_URL", reason);
        }
        for (var, key) in [
            ("ENCRYPTION_KEY", &v.encryption_key),
            ("ENCRYPTION_KEY_PREVIOUS", &v.encryption_key_previous),
        ] {
            if let Some(Err(e)) = key.as_deref().map(crate::crypto::Cipher::from_base64_key) {
                bad(var, e.to_string());
            }
        }
        let retry = RetrySettings {
            http_retries: v.http_retries,
            http_min_delay: v.http_retry_min_delay,
            http_max_delay: v.http_retry_max_delay,
            retry_after_cap: v.retry_after_cap,
            job_max_attempts: v.job_max_attempts,
            job_retry_delays: v.job_retry_delays.0,
            busy_delay: v.sync_busy_delay,
            max_deferrals: v.job_max_deferrals,
        };
        let session = SessionSettings {
            max_age: v.session_max_age,
            idle_timeout: v.session_idle_timeout,
        };
        let worker = WorkerSettings {
            concurrency: v.worker_concurrency,
            write_concurrency: v.humanitec_write_concurrency.max(1),
            write_adaptive: v.humanitec_write_adaptive,
            fleet_every: v.humanitec_fleet_every,
            http_timeout: v.humanitec_timeout,
            shutdown_grace: v.shutdown_grace,
            stale_after: v.job_stale_after,
            rescue_every: v.job_rescue_every,
            http_listen: v.http_listen,
            metrics_refresh: v.metrics_refresh.max(Duration::from_millis(100)),
            pause_alert_after: v.pause_alert_after,
            retry,
        };
        Settings {
            database_pool_size: v.database_pool_size,
            database_prepared_statements: v.database_prepared_statements,
            sync_debounce: v.sync_debounce,
            sync_debounce_max_wait: v.sync_debounce_max_wait,
            sync_reconcile_interval: v.sync_reconcile_interval,
            notify_digest_window: v.notify_digest_window,
            notify_poll_every: v.notify_poll_every,
            notify_allow_private_targets: v.notify_allow_private_targets,
            notify: NotifySettings {
                concurrency: v.notify_concurrency,
                channel_concurrency: v.notify_channel_concurrency,
                project_concurrency: v.notify_project_concurrency,
                send_timeout: v.notify_send_timeout,
                dns_timeout: v.notify_dns_timeout,
                claim_for: v.notify_claim_for,
                give_up_after: v.notify_give_up_after,
                max_channels_per_project: v.notify_max_channels_per_project,
                smtp_ca,
            },
            dashboard_url: v.dashboard_url.map(|u| u.trim_end_matches('/').to_string()),
            http_limits: HttpLimits {
                header_read_timeout: v.http_header_read_timeout,
                request_timeout: v.http_request_timeout,
                body_read_timeout: v.http_body_read_timeout,
                idle_timeout: v.http_idle_timeout,
                max_connections: v.http_max_connections,
            },
            rate_limits: RateLimits {
                triggers: v.rate_limit_triggers,
                previews: v.rate_limit_previews,
                writes: v.rate_limit_writes,
                dead_letters: v.rate_limit_dead_letters,
            },
            dead_letter_page_size: v.dead_letter_page_size,
            database_url: v.database_url,
            amqp_url: v.amqp_url,
            amqp_ca,
            humanitec_api_url: v.humanitec_api_url.trim_end_matches('/').to_string(),
            encryption_key: v.encryption_key,
            encryption_key_previous: v.encryption_key_previous,
            queue_prefix: v.queue_prefix,
            api_listen: v.api_listen,
            log_format: v.log_format,
            session,
            audit_retention: v.audit_retention,
            worker,
        }
    }

    /// The cipher: ENCRYPTION_KEY, plus ENCRYPTION_KEY_PREVIOUS for reading
    /// during a rotation.
    pub fn cipher(&self) -> Result<crate::crypto::Cipher, ConfigError> {
        use crate::crypto::Cipher;
        let key = |var: &'static str, value: &str| {
            Cipher::from_base64_key(value).map_err(|e| ConfigError::Invalid {
                var: var.into(),
                reason: e.to_string(),
            })
        };
        let cipher = key("ENCRYPTION_KEY", self.require_encryption_key()?)?;
        Ok(match &self.encryption_key_previous {
            Some(previous) => cipher.with_previous(key("ENCRYPTION_KEY_PREVIOUS", previous)?),
            None => cipher,
        })
    }

    /// The encryption key, or the error that tells the operator how to make one.
    pub fn require_encryption_key(&self) -> Result<&str, ConfigError> {
        self.encryption_key
            .as_deref()
            .ok_or(ConfigError::MissingEncryptionKey)
    }
}

/// Which settings a command cannot do without.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    EncryptionKey,
}

/// The URL's shape only (no connection): what tokio-postgres would refuse.
fn check_database_url(url: &str) -> Result<(), String> {
    crate::store::DatabaseUrl::parse(url)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "expected a URL like postgres://user:password@host:5432/database?sslmode=verify-full&sslrootcert=/path/ca.pem ({})",
                redact_url(&e)
            )
        })
}

/// One URL, or a comma-separated list of the nodes of one cluster: each
/// is checked, and a bad one is named by its place in the list.
fn check_amqp_url(url: &str) -> Result<(), String> {
    let nodes: Vec<&str> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    if nodes.is_empty() {
        return Err("expected a URL like amqp://user:password@host:5672/vhost, or a comma-separated list of the nodes of one cluster".into());
    }
    let many = nodes.len() > 1;
    for (i, node) in nodes.iter().enumerate() {
        check_amqp_node(node).map_err(|e| match many {
            true => format!("node {} of {}: {e}", i + 1, nodes.len()),
            false => e,
        })?;
    }
    Ok(())
}

fn check_amqp_node(url: &str) -> Result<(), String> {
    let uri = url.parse::<lapin::uri::AMQPUri>().map_err(|e| {
        format!(
            "expected a URL like amqp://user:password@host:5672/vhost, vhost `/` written %2f, or a comma-separated list of such URLs (a comma in a password written %2C) ({})",
            redact_url(&e)
        )
    })?;
    if uri.authority.host.is_empty() {
        return Err("the URL names no host".into());
    }
    Ok(())
}

/// The CAs of `AMQP_CA_FILE`, read once when the settings are.
#[derive(Clone)]
pub struct AmqpCa {
    pub path: String,
    pub roots: std::sync::Arc<rustls::RootCertStore>,
}

impl AmqpCa {
    /// Reads `path`; refuses it when no node of `amqp_url` uses TLS (the
    /// CA would be ignored while credentials go in clear).
    fn read(path: &str, amqp_url: &str) -> Result<AmqpCa, String> {
        if !amqp_url
            .split(',')
            .any(|u| u.trim().starts_with("amqps://"))
        {
            return Err(
                "is set, but AMQP_URL has no amqps:// node, so it would be ignored and the connection made without TLS; write the TLS port's URL as amqps://user:password@host:5671/vhost".into(),
            );
        }
        crate::tls::roots_from_file("AMQP_CA_FILE", std::path::Path::new(path))
            .map(|roots| AmqpCa {
                path: path.to_string(),
                roots: std::sync::Arc::new(roots),
            })
            .map_err(|e| e.reason)
    }
}

fn check_http_url(url: &str) -> Result<(), String> {
    let expected = "expected an http or https URL like https://api.humanitec.io";
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) => Err(format!("{expected}, got scheme `{}`", u.scheme())),
        Err(e) => Err(format!("{expected} ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::vars::{DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL, DEFAULT_HUMANITEC_API_URL};
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn secrets_can_come_from_files_named_by_file_variables() {
        let dir =
            std::env::temp_dir().join(format!("secret-sync-file-vars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let url_file = dir.join("database_url");
        std::fs::write(&url_file, "postgres://app:s3cret@db.internal:5432/app\n").expect("write");
        let key_file = dir.join("key");
        // base64 of 32 bytes.
        let key = format!("{}=", "A".repeat(43));
        std::fs::write(&key_file, format!("{key}\r\n")).expect("write");
        let url_path = url_file.to_string_lossy().into_owned();
        let key_path = key_file.to_string_lossy().into_owned();
        let s = from(&[
            ("DATABASE_URL_FILE", &url_path),
            ("ENCRYPTION_KEY_FILE", &key_path),
        ])
        .expect("read from the files");
        assert_eq!(s.database_url, "postgres://app:s3cret@db.internal:5432/app");
        assert_eq!(s.encryption_key.as_deref(), Some(key.as_str()));

        // Both at once, and a file that is not there: named, without a value.
        let err = from(&[
            ("DATABASE_URL", "postgres://x@y/z"),
            ("DATABASE_URL_FILE", &url_path),
            ("AMQP_URL_FILE", "/nonexistent/amqp"),
        ])
        .expect_err("refused")
        .to_string();
        assert!(
            err.contains("DATABASE_URL_FILE is not valid: is set as well as DATABASE_URL"),
            "{err}"
        );
        assert!(
            err.contains("AMQP_URL_FILE is not valid: names /nonexistent/amqp"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_smtp_ca_file_that_is_not_a_ca_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("smtp-ca-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write");
        for path in [
            "/nonexistent/ca.pem".to_string(),
            junk.display().to_string(),
        ] {
            let err = from(&[("NOTIFY_SMTP_CA_FILE", path.as_str())])
                .expect_err(&path)
                .to_string();
            assert!(err.contains("NOTIFY_SMTP_CA_FILE"), "{err}");
        }
        assert!(from(&[]).expect("valid").notify.smtp_ca.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_zero_period_is_refused_by_name() {
        for var in ["METRICS_REFRESH", "JOB_RESCUE_EVERY", "NOTIFY_POLL_EVERY"] {
            let err = from(&[(var, "0s")]).expect_err(var).to_string();
            assert!(err.contains(var) && err.contains("at least 1ms"), "{err}");
        }
        assert_eq!(
            from(&[("NOTIFY_POLL_EVERY", "250ms")])
                .expect("valid")
                .notify_poll_every,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn defaults_match_the_brief() {
        let s = from(&[]).expect("defaults are valid");
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.amqp_url, DEFAULT_AMQP_URL);
        assert_eq!(s.humanitec_api_url, DEFAULT_HUMANITEC_API_URL);
        assert_eq!(s.queue_prefix, "");
        assert!(s.encryption_key.is_none());
        assert!(matches!(
            s.require_encryption_key(),
            Err(ConfigError::MissingEncryptionKey)
        ));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = from(&[("WORKER_CONCURRENCY", "many")])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("WORKER_CONCURRENCY is not valid: expected a whole number, got `many`")
        );
        let err = from(&[("JOB_RETRY_DELAYS", "1s,soon")])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("JOB_RETRY_DELAYS is not valid")));
    }

    #[test]
    fn dashboard_sessions_last_12h_idle_30m_and_at_least_a_second() {
        let s = from(&[]).expect("defaults are valid");
        assert_eq!(s.session.max_age, Duration::from_secs(12 * 3600));
        assert_eq!(s.session.idle_timeout, Duration::from_secs(30 * 60));
        let s = from(&[("SESSION_MAX_AGE", "8h"), ("SESSION_IDLE_TIMEOUT", "5m")]).expect("valid");
        assert_eq!(s.session.max_age, Duration::from_secs(8 * 3600));
        assert_eq!(s.session.idle_timeout, Duration::from_secs(300));
        let err = from(&[("SESSION_IDLE_TIMEOUT", "0s")])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("SESSION_IDLE_TIMEOUT is not valid")));
    }

    #[test]
    fn database_settings_and_debounce_have_defaults_and_bounds() {
        let s = from(&[]).expect("defaults are valid");
        assert_eq!(s.database_pool_size, 10);
        assert!(s.database_prepared_statements);
        assert_eq!(s.sync_debounce, Duration::from_millis(250));
        let s = from(&[("DATABASE_PREPARED_STATEMENTS", "false")]).expect("valid");
        assert!(!s.database_prepared_statements);
        let err = from(&[("DATABASE_PREPARED_STATEMENTS", "off-ish")])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("DATABASE_PREPARED_STATEMENTS is not valid")));
        let s = from(&[("DATABASE_POOL_SIZE", "3"), ("SYNC_DEBOUNCE", "0ms")]).expect("valid");
        assert_eq!((s.database_pool_size, s.sync_debounce), (3, Duration::ZERO));
        let err = from(&[("DATABASE_POOL_SIZE", "1")])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("DATABASE_POOL_SIZE is not valid")));
    }

    #[test]
    fn listener_limits_and_rate_limits_have_defaults_and_bounds() {
        let s = from(&[]).expect("defaults are valid");
        assert_eq!(s.http_limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.http_limits.request_timeout, Duration::from_secs(60));
        assert_eq!(s.http_limits.idle_timeout, Duration::from_secs(75));
        assert_eq!(s.http_limits.body_read_timeout, Duration::from_secs(10));
        assert_eq!(s.dead_letter_page_size, 500);
        assert_eq!(
            s.worker.http_listen,
            SocketAddr::from(([127, 0, 0, 1], 9090)),
            "the health listener is loopback unless set wider"
        );
        assert_eq!(s.http_limits.max_connections, 1024);
        assert_eq!(
            s.rate_limits.triggers,
            Rate {
                per_second: 10,
                burst: 50
            }
        );
        let s = from(&[("RATE_LIMIT_PREVIEWS", " 3/s, 7 ")]).expect("valid");
        assert_eq!(
            s.rate_limits.previews,
            Rate {
                per_second: 3,
                burst: 7
            }
        );
        for (var, bad) in [
            ("RATE_LIMIT_WRITES", "5"),
            ("RATE_LIMIT_WRITES", "0/s,5"),
            ("RATE_LIMIT_TRIGGERS", "10/m,5"),
            ("HTTP_MAX_CONNECTIONS", "0"),
            ("HTTP_IDLE_TIMEOUT", "soon"),
            ("HTTP_BODY_READ_TIMEOUT", "soon"),
            ("DEAD_LETTER_PAGE_SIZE", "0"),
            ("RATE_LIMIT_DEAD_LETTERS", "0/s,1"),
        ] {
            let err = from(&[(var, bad)]).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.starts_with(var)),
                "{var}={bad}: {err:?}"
            );
        }
    }

    #[test]
    fn every_bad_setting_is_listed_at_once_with_what_is_expected() {
        let err = from(&[
            ("ENCRYPTION_KEY", "abc"),
            ("SYNC_DEBOUNCE", "soon"),
            ("AMQP_URL", "rabbit://nowhere"),
            ("DATABASE_URL", "postgres://u:hunter2@db:notaport/x"),
            ("HUMANITEC_API_URL", "ftp://api.humanitec.io"),
            ("DATABASE_POOL_SIZE", "1"),
            ("WORKER_CONCURRENCY", "lots"),
        ])
        .expect_err("refused");
        let ConfigError::Several(list) = &err else {
            panic!("one error only: {err}");
        };
        let text = err.to_string();
        assert_eq!(list.len(), 7, "{text}");
        for var in [
            "ENCRYPTION_KEY is not valid: expected the base64 of exactly 32 bytes",
            "SYNC_DEBOUNCE is not valid: expected a duration",
            "AMQP_URL is not valid: expected a URL like amqp://",
            "DATABASE_URL is not valid: expected a URL like postgres://",
            "HUMANITEC_API_URL is not valid: expected an http or https URL",
            "DATABASE_POOL_SIZE is not valid: must be at least 2, got 1",
            "WORKER_CONCURRENCY is not valid: expected a whole number",
        ] {
            assert!(text.contains(var), "{var} missing from:\n{text}");
        }
        assert_eq!(text.matches("keygen").count(), 1, "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn amqp_url_takes_a_list_of_nodes_and_names_the_bad_one() {
        let list = "amqp://u:hunter2@mq1:5672/%2f, amqp://u:hunter2@mq2:5672/%2f,amqp://u:hunter2@mq3:5672/%2f";
        let s = from(&[("AMQP_URL", list)]).expect("a list of nodes is valid");
        assert_eq!(s.amqp_url, list);
        let err = from(&[(
            "AMQP_URL",
            "amqp://u:hunter2@mq1:5672/%2f,rabbit://u:hunter2@mq2/x",
        )])
        .expect_err("refused");
        let text = err.to_string();
        assert!(
            text.contains("AMQP_URL is not valid: node 2 of 2:"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        let err = from(&[("AMQP_URL", " , ")]).expect_err("an empty list is refused");
        assert!(err.to_string().contains("AMQP_URL"), "{err}");
        assert_eq!(
            redact_url("amqp://u:a@mq1/%2f,amqp://u:b@mq2/%2f"),
            "amqp://u:***@mq1/%2f,amqp://u:***@mq2/%2f"
        );
        assert_eq!(
            redact_url("postgres://u:a@db1:5432,db2:5433/x?target_session_attrs=read-write"),
            "postgres://u:***@db1:5432,db2:5433/x?target_session_attrs=read-write"
        );
    }

    #[test]
    fn database_url_takes_several_hosts() {
        let url =
            "postgres://postgres@db1:5432,db2:5433/secret_sync?target_session_attrs=read-write";
        let s = from(&[("DATABASE_URL", url)]).expect("several hosts are valid");
        assert_eq!(s.database_url, url);
    }

    #[test]
    fn a_command_that_needs_the_key_lists_its_absence_with_the_rest() {
        let read = super::vars::from_lookup(|k| (k == "SYNC_DEBOUNCE").then(|| "soon".into()));
        let err = Settings::checked(read, Needs::EncryptionKey)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("SYNC_DEBOUNCE") && err.contains("ENCRYPTION_KEY is not set"),
            "{err}"
        );
    }

    #[test]
    fn retry_delays_parse_in_order() {
        let s = from(&[("JOB_RETRY_DELAYS", "200ms, 1s,2m")]).expect("valid");
        assert_eq!(
            s.worker.retry.job_retry_delays,
            vec![
                Duration::from_millis(200),
                Duration::from_secs(1),
                Duration::from_secs(120)
            ]
        );
    }

    #[test]
    fn debug_never_shows_the_key_or_passwords() {
        let s = from(&[
            (
                "ENCRYPTION_KEY",
                "c2VjcmV0LWtleS1vZi0zMi1ieXRlcy1leGFjdGx5ISE=",
            ),
            ("AMQP_URL", "amqp://user:hunter2@broker:5672/%2f"),
        ])
        .expect("valid");
        let shown = format!("{s:?}");
        assert!(!shown.contains("c2VjcmV0LWtleS1vZi0zMi1ieXRlcy1leGFjdGx5ISE="));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("amqp://user:***@broker:5672/%2f"));
    }
}
