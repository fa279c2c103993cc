//! Every environment variable, declared once through clap's `env` feature:
//! name, default and value parser. Parsers say what is expected in the
//! words the README uses; `invalid` turns clap's error back into
//! "VAR is not valid: …".

use std::borrow::Cow;
use std::error::Error as _;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, CommandFactory as _, FromArgMatches as _, Parser};

use super::ConfigError;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/secret_sync";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_HUMANITEC_API_URL: &str = "https://api.humanitec.io";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `JOB_RETRY_DELAYS`: one value holding a list (not clap's repeated values).
#[derive(Clone, Debug)]
pub struct DurationList(pub Vec<Duration>);

/// Each variable's flag is its name in kebab case (`--worker-concurrency`
/// for `WORKER_CONCURRENCY`): that is how an error names the variable.
/// Not `Debug`: it holds the key and URLs with passwords.
#[derive(Parser)]
#[command(no_binary_name = true)]
pub struct Vars {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true,
        default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    #[arg(long, env = "AMQP_URL", hide_env_values = true,
        default_value = DEFAULT_AMQP_URL)]
    pub amqp_url: String,
    /// PEM file of the CAs that sign RabbitMQ's certificates (`amqps://`);
    /// unset: the public authorities this build carries.
    #[arg(long, env = "AMQP_CA_FILE")]
    pub amqp_ca_file: Option<String>,
    #[arg(long, env = "HUMANITEC_API_URL",
        default_value = DEFAULT_HUMANITEC_API_URL)]
    pub humanitec_api_url: String,
    #[arg(long, env = "ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
    #[arg(long, env = "ENCRYPTION_KEY_PREVIOUS", hide_env_values = true)]
    pub encryption_key_previous: Option<String>,
    #[arg(long, env = "QUEUE_PREFIX", default_value = "")]
    pub queue_prefix: String,
    #[arg(long, env = "WORKER_CONCURRENCY", default_value = "64", value_parser = whole_number::<u16>)]
    pub worker_concurrency: u16,
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value = "10", value_parser = whole_number::<usize>)]
    pub database_pool_size: usize,
    #[arg(long, env = "DATABASE_PREPARED_STATEMENTS", default_value = "true",
        action = ArgAction::Set, value_parser = boolean)]
    pub database_prepared_statements: bool,
    #[arg(long, env = "SYNC_DEBOUNCE", default_value = "250ms", value_parser = duration)]
    pub sync_debounce: Duration,
    #[arg(long, env = "SYNC_DEBOUNCE_MAX_WAIT", default_value = "10s", value_parser = duration)]
    pub sync_debounce_max_wait: Duration,
    #[arg(long, env = "SYNC_RECONCILE_INTERVAL", default_value = "1h", value_parser = duration)]
    pub sync_reconcile_interval: Duration,
    #[arg(long, env = "NOTIFY_DIGEST_WINDOW", default_value = "30s", value_parser = duration)]
    pub notify_digest_window: Duration,
    #[arg(long, env = "NOTIFY_POLL_EVERY", default_value = "1s", value_parser = duration)]
    pub notify_poll_every: Duration,
    #[arg(long, env = "NOTIFY_ALLOW_PRIVATE_TARGETS", default_value = "false",
        action = ArgAction::Set, value_parser = boolean)]
    pub notify_allow_private_targets: bool,
    #[arg(long, env = "NOTIFY_CONCURRENCY", default_value = "32", value_parser = whole_number::<usize>)]
    pub notify_concurrency: usize,
    #[arg(long, env = "NOTIFY_CHANNEL_CONCURRENCY", default_value = "1",
        value_parser = whole_number::<usize>)]
    pub notify_channel_concurrency: usize,
    #[arg(long, env = "NOTIFY_PROJECT_CONCURRENCY", default_value = "8",
        value_parser = whole_number::<usize>)]
    pub notify_project_concurrency: usize,
    #[arg(long, env = "NOTIFY_SEND_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub notify_send_timeout: Duration,
    #[arg(long, env = "NOTIFY_DNS_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub notify_dns_timeout: Duration,
    #[arg(long, env = "NOTIFY_CLAIM_FOR", default_value = "60s", value_parser = duration)]
    pub notify_claim_for: Duration,
    #[arg(long, env = "NOTIFY_GIVE_UP_AFTER", default_value = "24h", value_parser = duration)]
    pub notify_give_up_after: Duration,
    #[arg(long, env = "NOTIFY_MAX_CHANNELS_PER_PROJECT", default_value = "50",
        value_parser = whole_number::<usize>)]
    pub notify_max_channels_per_project: usize,
    /// PEM file of CAs trusted, beside the public ones, for email
    /// channels' SMTP servers (an internal relay's).
    #[arg(long, env = "NOTIFY_SMTP_CA_FILE")]
    pub notify_smtp_ca_file: Option<String>,
    #[arg(long, env = "DASHBOARD_URL")]
    pub dashboard_url: Option<String>,
    #[arg(long, env = "HUMANITEC_WRITE_CONCURRENCY", default_value = "32",
        value_parser = whole_number::<usize>)]
    pub humanitec_write_concurrency: usize,
    #[arg(long, env = "HUMANITEC_WRITE_ADAPTIVE", default_value = "true",
        action = ArgAction::Set, value_parser = boolean)]
    pub humanitec_write_adaptive: bool,
    /// How often a worker that writes to Humanitec reports its windows to
    /// the fleet and reads the others' (0: each process adapts alone).
    #[arg(long, env = "HUMANITEC_FLEET_EVERY", default_value = "50ms", value_parser = duration)]
    pub humanitec_fleet_every: Duration,
    #[arg(long, env = "HUMANITEC_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub humanitec_timeout: Duration,
    #[arg(long, env = "HTTP_RETRIES", default_value = "3", value_parser = whole_number::<usize>)]
    pub http_retries: usize,
    #[arg(long, env = "HTTP_RETRY_MIN_DELAY", default_value = "200ms", value_parser = duration)]
    pub http_retry_min_delay: Duration,
    #[arg(long, env = "HTTP_RETRY_MAX_DELAY", default_value = "5s", value_parser = duration)]
    pub http_retry_max_delay: Duration,
    #[arg(long, env = "RETRY_AFTER_CAP", default_value = "30s", value_parser = duration)]
    pub retry_after_cap: Duration,
    #[arg(long, env = "JOB_MAX_ATTEMPTS", default_value = "5", value_parser = whole_number::<u32>)]
    pub job_max_attempts: u32,
    #[arg(long, env = "JOB_RETRY_DELAYS", default_value = "10s,30s,2m,10m",
        value_parser = durations)]
    pub job_retry_delays: DurationList,
    #[arg(long, env = "SYNC_BUSY_DELAY", default_value = "2s", value_parser = duration)]
    pub sync_busy_delay: Duration,
    #[arg(long, env = "JOB_MAX_DEFERRALS", default_value = "1000", value_parser = whole_number::<u32>)]
    pub job_max_deferrals: u32,
    #[arg(long, env = "JOB_RESCUE_EVERY", default_value = "30s", value_parser = duration)]
    pub job_rescue_every: Duration,
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "30s", value_parser = duration)]
    pub shutdown_grace: Duration,
    #[arg(long, env = "JOB_STALE_AFTER", default_value = "2m", value_parser = duration)]
    pub job_stale_after: Duration,
    /// Loopback by default: `/metrics` and `/readyz` are for the host's own
    /// probes and scraper unless set wider (the Kubernetes manifests do).
    #[arg(long, env = "HTTP_LISTEN", default_value = "127.0.0.1:9090", value_parser = address)]
    pub http_listen: SocketAddr,
    #[arg(long, env = "METRICS_REFRESH", default_value = "15s", value_parser = duration)]
    pub metrics_refresh: Duration,
    #[arg(long, env = "PAUSE_ALERT_AFTER", default_value = "1h", value_parser = duration)]
    pub pause_alert_after: Duration,
    #[arg(long, env = "API_LISTEN", default_value = "0.0.0.0:8080", value_parser = address)]
    pub api_listen: SocketAddr,
    #[arg(long, env = "SESSION_MAX_AGE", default_value = "12h", value_parser = duration)]
    pub session_max_age: Duration,
    #[arg(long, env = "SESSION_IDLE_TIMEOUT", default_value = "30m", value_parser = duration)]
    pub session_idle_timeout: Duration,
    #[arg(long, env = "AUDIT_RETENTION", default_value = "90d", value_parser = duration)]
    pub audit_retention: Duration,
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = log_format)]
    pub log_format: LogFormat,
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub http_header_read_timeout: Duration,
    #[arg(long, env = "HTTP_REQUEST_TIMEOUT", default_value = "60s", value_parser = duration)]
    pub http_request_timeout: Duration,
    #[arg(long, env = "HTTP_IDLE_TIMEOUT", default_value = "75s", value_parser = duration)]
    pub http_idle_timeout: Duration,
    #[arg(long, env = "HTTP_BODY_READ_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub http_body_read_timeout: Duration,
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value = "1024",
        value_parser = whole_number::<usize>)]
    pub http_max_connections: usize,
    #[arg(long, env = "RATE_LIMIT_TRIGGERS", default_value = "10/s,50", value_parser = rate)]
    pub rate_limit_triggers: Rate,
    #[arg(long, env = "RATE_LIMIT_PREVIEWS", default_value = "2/s,10", value_parser = rate)]
    pub rate_limit_previews: Rate,
    #[arg(long, env = "RATE_LIMIT_WRITES", default_value = "5/s,20", value_parser = rate)]
    pub rate_limit_writes: Rate,
    #[arg(long, env = "RATE_LIMIT_DEAD_LETTERS", default_value = "2/s,10", value_parser = rate)]
    pub rate_limit_dead_letters: Rate,
    #[arg(long, env = "DEAD_LETTER_PAGE_SIZE", default_value = "500",
        value_parser = whole_number::<usize>)]
    pub dead_letter_page_size: usize,
}

/// A per-token rate: `per_second` requests a second on average, `burst`
/// at once (`10/s,50`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// What reading the variables gave: the values (a bad one replaced by its
/// default, so the other checks still run) and every value that was bad.
pub struct Read {
    /// `None` only if clap refused something it could not pin on one variable.
    pub vars: Option<Vars>,
    pub errors: Vec<ConfigError>,
}

/// Reads the process environment; an empty variable counts as unset.
pub fn from_env() -> Read {
    let mut unreadable = Vec::new();
    let mut read = from_lookup(|name| match std::env::var(name) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            unreadable.push(ConfigError::Invalid {
                var: Cow::Owned(name.to_string()),
                reason: "is not valid UTF-8".into(),
            });
            None
        }
    });
    read.errors.splice(0..0, unreadable);
    read
}

/// Reads the variables through `lookup` (a name to its value) and never the
/// process environment: what tests and embedders pass is all there is.
/// Every variable `NAME` may instead be given as `NAME_FILE`, the path of a
/// file holding the value (how Docker and Kubernetes mount secrets).
pub fn from_lookup(mut lookup: impl FnMut(&str) -> Option<String>) -> Read {
    let mut argv: Vec<OsString> = Vec::new();
    let mut file_errors = Vec::new();
    let command = Vars::command().mut_args(|arg| {
        let value = arg
            .get_env()
            .and_then(|name| value_or_file(&name.to_string_lossy(), &mut lookup, &mut file_errors));
        if let (Some(value), Some(long)) = (value, arg.get_long()) {
            argv.push(format!("--{long}={value}").into());
        }
        arg.env(None::<&'static str>)
    });
    let mut read = parse(command, argv);
    read.errors.splice(0..0, file_errors);
    read
}

/// `name`'s value, or the contents of the file `{name}_FILE` names (one
/// trailing newline dropped, as `echo` and editors leave one). Both set is
/// an error (which one would win is a guess); the direct value is kept so
/// that nothing else is reported missing. A file that cannot be read is
/// named with the reason, never with any of its contents.
fn value_or_file(
    name: &str,
    lookup: &mut impl FnMut(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    let direct = lookup(name).filter(|v| !v.is_empty());
    let file_var = format!("{name}_FILE");
    let path = lookup(&file_var).filter(|v| !v.is_empty());
    match (direct, path) {
        (Some(value), Some(_)) => {
            errors.push(ConfigError::Invalid {
                var: Cow::Owned(file_var),
                reason: format!("is set as well as {name}; set one of them"),
            });
            Some(value)
        }
        (Some(value), None) => Some(value),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(text) => {
                let value = text
                    .strip_suffix('\n')
                    .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
                Some(value.to_string()).filter(|v| !v.is_empty())
            }
            Err(e) => {
                errors.push(ConfigError::Invalid {
                    var: Cow::Owned(file_var),
                    reason: format!("names {path}, which cannot be read ({e})"),
                });
                None
            }
        },
        (None, None) => None,
    }
}

/// Parses; after each refusal, drops the refused variable (its default
/// stands in) and parses again, so one run reports every bad value.
fn parse(mut command: clap::Command, mut argv: Vec<OsString>) -> Read {
    let mut errors = Vec::new();
    loop {
        let parsed = command
            .try_get_matches_from_mut(argv.clone())
            .and_then(|matches| Vars::from_arg_matches(&matches));
        let error = match parsed {
            Ok(vars) => {
                return Read {
                    vars: Some(vars),
                    errors,
                }
            }
            Err(e) => e,
        };
        let (long, refused) = invalid(&error);
        errors.push(refused);
        let before = argv.len();
        if let Some(long) = long {
            let prefix = format!("--{long}=");
            argv.retain(|a| !a.to_string_lossy().starts_with(&prefix));
        }
        if argv.len() == before {
            return Read { vars: None, errors };
        }
    }
}

/// clap's "invalid value … for '--worker-concurrency <…>'" as
/// "WORKER_CONCURRENCY is not valid: expected …", with the flag refused.
fn invalid(error: &clap::Error) -> (Option<String>, ConfigError) {
    let long = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(shown)) => shown
            .split_whitespace()
            .next()
            .and_then(|flag| flag.strip_prefix("--"))
            .map(str::to_string),
        _ => None,
    };
    let reason = match (error.kind(), error.source()) {
        (ErrorKind::ValueValidation, Some(source)) => source.to_string(),
        _ => error
            .kind()
            .as_str()
            .unwrap_or("not understood")
            .to_string(),
    };
    let var = long
        .as_deref()
        .map_or(Cow::Borrowed("configuration"), |long| {
            Cow::Owned(long.to_uppercase().replace('-', "_"))
        });
    (long, ConfigError::Invalid { var, reason })
}

fn whole_number<T: std::str::FromStr>(raw: &str) -> Result<T, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("expected a whole number, got `{raw}`"))
}

fn boolean(raw: &str) -> Result<bool, String> {
    match raw.trim() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(format!("expected true or false, got `{other}`")),
    }
}

fn duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw.trim())
        .map_err(|e| format!("expected a duration like `500ms`, `10s` or `2m`, got `{raw}` ({e})"))
}

fn durations(raw: &str) -> Result<DurationList, String> {
    let delays = raw
        .split(',')
        .map(|part| humantime::parse_duration(part.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!("expected a comma-separated list like `10s,30s,2m`, got `{raw}` ({e})")
        })?;
    if delays.is_empty() {
        return Err("needs at least one delay".into());
    }
    Ok(DurationList(delays))
}

fn address(raw: &str) -> Result<SocketAddr, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("expected host:port like `0.0.0.0:9090`, got `{raw}`"))
}

fn rate(raw: &str) -> Result<Rate, String> {
    let expected =
        || format!("expected `<n>/s,<burst>` like `10/s,50` (both at least 1), got `{raw}`");
    let (per, burst) = raw.trim().split_once(',').ok_or_else(expected)?;
    let per = per.trim().strip_suffix("/s").ok_or_else(expected)?;
    let rate = Rate {
        per_second: per.trim().parse().map_err(|_| expected())?,
        burst: burst.trim().parse().map_err(|_| expected())?,
    };
    if rate.per_second == 0 || rate.burst == 0 {
        return Err(expected());
    }
    Ok(rate)
}

fn log_format(raw: &str) -> Result<LogFormat, String> {
    match raw {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("expected `text` or `json`, got `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_reported_and_the_rest_still_read() {
        let lookup = |name: &str| match name {
            "WORKER_CONCURRENCY" => Some("many".to_string()),
            "SYNC_DEBOUNCE" => Some("soon".to_string()),
            "QUEUE_PREFIX" => Some("ok".to_string()),
            _ => None,
        };
        let read = from_lookup(lookup);
        let named: Vec<String> = read.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(named.len(), 2, "{named:?}");
        assert!(named[0].starts_with("WORKER_CONCURRENCY is not valid: expected a whole number"));
        assert!(named[1].starts_with("SYNC_DEBOUNCE is not valid: expected a duration"));
        let vars = read.vars.expect("the good values are read");
        assert_eq!(vars.queue_prefix, "ok");
        assert_eq!(vars.worker_concurrency, 64);
    }

    #[test]
    fn every_flag_is_its_variable_in_kebab_case() {
        for arg in Vars::command().get_arguments() {
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let long = arg.get_long().map(|l| l.to_uppercase().replace('-', "_"));
            assert!(env.is_some() && env == long, "{env:?} vs {long:?}");
        }
    }

    #[test]
    fn an_empty_value_counts_as_unset_and_values_are_taken_as_given() {
        let lookup = |name: &str| match name {
            "WORKER_CONCURRENCY" => Some(String::new()),
            "QUEUE_PREFIX" => Some("--looks-like-a-flag".to_string()),
            _ => None,
        };
        let read = from_lookup(lookup);
        assert!(read.errors.is_empty());
        let vars = read.vars.expect("valid");
        assert_eq!(vars.worker_concurrency, 64);
        assert_eq!(vars.queue_prefix, "--looks-like-a-flag");
    }
}
