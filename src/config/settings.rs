use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/secret_sync";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_HUMANITEC_API_URL: &str = "https://api.humanitec.io";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

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
    pub http_timeout: Duration,
    pub shutdown_grace: Duration,
    /// A running job whose heartbeat is older than this is considered dead.
    pub stale_after: Duration,
    /// How often the dead-letter queue is scanned for jobs to record failed.
    pub rescue_every: Duration,
    pub http_listen: SocketAddr,
    /// How often the gauges read from Postgres and RabbitMQ are refreshed.
    pub metrics_refresh: Duration,
    pub retry: RetrySettings,
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub amqp_url: String,
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
    /// Sync jobs are published this long after the first request; requests
    /// arriving meanwhile fold into the same job.
    pub sync_debounce: Duration,
    pub worker: WorkerSettings,
}

impl std::fmt::Debug for Settings {
    // Hand-written so that the key (and credentials in URLs) never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("amqp_url", &redact_url(&self.amqp_url))
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
            .field("worker", &self.worker)
            .finish()
    }
}

/// Replaces the password of a URL's userinfo with `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads settings through `lookup` (a variable name to its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str, default: &str| lookup(name).unwrap_or_else(|| default.to_string());
        let retry = RetrySettings {
            http_retries: parse_num(&lookup, "HTTP_RETRIES", 3)?,
            http_min_delay: parse_duration(&lookup, "HTTP_RETRY_MIN_DELAY", "200ms")?,
            http_max_delay: parse_duration(&lookup, "HTTP_RETRY_MAX_DELAY", "5s")?,
            retry_after_cap: parse_duration(&lookup, "RETRY_AFTER_CAP", "30s")?,
            job_max_attempts: parse_num(&lookup, "JOB_MAX_ATTEMPTS", 5)?,
            job_retry_delays: parse_durations(&lookup, "JOB_RETRY_DELAYS", "10s,30s,2m,10m")?,
            busy_delay: parse_duration(&lookup, "SYNC_BUSY_DELAY", "2s")?,
            max_deferrals: parse_num(&lookup, "JOB_MAX_DEFERRALS", 1000)?,
        };
        if retry.job_max_attempts == 0 {
            return Err(ConfigError::Invalid {
                var: "JOB_MAX_ATTEMPTS",
                reason: "must be at least 1".into(),
            });
        }
        let concurrency: u16 = parse_num(&lookup, "WORKER_CONCURRENCY", 8)?;
        if concurrency == 0 {
            return Err(ConfigError::Invalid {
                var: "WORKER_CONCURRENCY",
                reason: "must be at least 1".into(),
            });
        }
        let worker = WorkerSettings {
            concurrency,
            write_concurrency: parse_num::<usize>(&lookup, "HUMANITEC_WRITE_CONCURRENCY", 32)?
                .max(1),
            write_adaptive: parse_bool(&lookup, "HUMANITEC_WRITE_ADAPTIVE", true)?,
            http_timeout: parse_duration(&lookup, "HUMANITEC_TIMEOUT", "30s")?,
            shutdown_grace: parse_duration(&lookup, "SHUTDOWN_GRACE", "30s")?,
            stale_after: parse_duration(&lookup, "JOB_STALE_AFTER", "2m")?,
            rescue_every: parse_duration(&lookup, "JOB_RESCUE_EVERY", "30s")?,
            http_listen: parse_addr(&lookup, "HTTP_LISTEN", "0.0.0.0:9090")?,
            metrics_refresh: parse_duration(&lookup, "METRICS_REFRESH", "15s")?
                .max(Duration::from_millis(100)),
            retry,
        };
        let log_format = match get("LOG_FORMAT", "text").as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::Invalid {
                    var: "LOG_FORMAT",
                    reason: format!("expected `text` or `json`, got `{other}`"),
                })
            }
        };
        let queue_prefix = get("QUEUE_PREFIX", "");
        if queue_prefix.len() > 100 || queue_prefix.chars().any(|c| c.is_whitespace()) {
            return Err(ConfigError::Invalid {
                var: "QUEUE_PREFIX",
                reason: "must be at most 100 characters without spaces".into(),
            });
        }
        let database_pool_size: usize = parse_num(&lookup, "DATABASE_POOL_SIZE", 10)?;
        if database_pool_size < 2 {
            return Err(ConfigError::Invalid {
                var: "DATABASE_POOL_SIZE",
                reason: "must be at least 2".into(),
            });
        }
        Ok(Settings {
            database_pool_size,
            database_prepared_statements: parse_bool(
                &lookup,
                "DATABASE_PREPARED_STATEMENTS",
                true,
            )?,
            sync_debounce: parse_duration(&lookup, "SYNC_DEBOUNCE", "250ms")?,
            database_url: get("DATABASE_URL", DEFAULT_DATABASE_URL),
            amqp_url: get("AMQP_URL", DEFAULT_AMQP_URL),
            humanitec_api_url: get("HUMANITEC_API_URL", DEFAULT_HUMANITEC_API_URL)
                .trim_end_matches('/')
                .to_string(),
            encryption_key: lookup("ENCRYPTION_KEY"),
            encryption_key_previous: lookup("ENCRYPTION_KEY_PREVIOUS"),
            queue_prefix,
            api_listen: parse_addr(&lookup, "API_LISTEN", "0.0.0.0:8080")?,
            log_format,
            worker,
        })
    }

    /// The cipher: ENCRYPTION_KEY, plus ENCRYPTION_KEY_PREVIOUS for reading
    /// during a rotation.
    pub fn cipher(&self) -> Result<crate::crypto::Cipher, ConfigError> {
        use crate::crypto::Cipher;
        let key = |var: &'static str, value: &str| {
            Cipher::from_base64_key(value).map_err(|e| ConfigError::Invalid {
                var,
                reason: format!("{e}; make one with `secret-sync keygen`"),
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

fn parse_bool(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match lookup(var).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            var,
            reason: format!("expected true or false, got `{other}`"),
        }),
    }
}

fn parse_num<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match lookup(var) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
            var,
            reason: format!("expected a whole number, got `{raw}`"),
        }),
    }
}

fn parse_duration(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let raw = lookup(var).unwrap_or_else(|| default.to_string());
    humantime::parse_duration(raw.trim()).map_err(|e| ConfigError::Invalid {
        var,
        reason: format!("expected a duration like `500ms`, `10s` or `2m`, got `{raw}` ({e})"),
    })
}

fn parse_durations(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<Vec<Duration>, ConfigError> {
    let raw = lookup(var).unwrap_or_else(|| default.to_string());
    let delays = raw
        .split(',')
        .map(|part| humantime::parse_duration(part.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Invalid {
            var,
            reason: format!("expected a comma-separated list like `10s,30s,2m`, got `{raw}` ({e})"),
        })?;
    if delays.is_empty() {
        return Err(ConfigError::Invalid {
            var,
            reason: "needs at least one delay".into(),
        });
    }
    Ok(delays)
}

fn parse_addr(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let raw = lookup(var).unwrap_or_else(|| default.to_string());
    raw.trim().parse().map_err(|_| ConfigError::Invalid {
        var,
        reason: format!("expected host:port like `0.0.0.0:9090`, got `{raw}`"),
    })
}

#[cfg(test)]
mod tests {
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
            ("ENCRYPTION_KEY", "c2VjcmV0LWtleQ=="),
            ("AMQP_URL", "amqp://user:hunter2@broker:5672/%2f"),
        ])
        .expect("valid");
        let shown = format!("{s:?}");
        assert!(!shown.contains("c2VjcmV0LWtleQ=="));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("amqp://user:***@broker:5672/%2f"));
    }
}
