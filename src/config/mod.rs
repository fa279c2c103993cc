//! Configuration from environment variables (the brief's contract plus tuning).
//!
//! Every variable is documented in the README and declared once, with its
//! default and parser, through clap's `env` feature (`vars.rs`). Tests pass
//! a map instead of touching the process environment (`from_lookup`).

mod settings;
mod vars;

pub use settings::{
    redact_url as settings_redact_url, AmqpCa, HttpLimits, NotifySettings, RateLimits,
    RetrySettings, SessionSettings, Settings, WorkerSettings,
};
pub use vars::{LogFormat, Rate};

/// A configuration value that could not be used. Never carries secret values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not valid: {reason}")]
    Invalid {
        var: std::borrow::Cow<'static, str>,
        reason: String,
    },
    #[error(
        "ENCRYPTION_KEY is not set. Generate one with `secret-sync keygen` \
         (or `openssl rand -base64 32`) and export ENCRYPTION_KEY=<key>; every \
         worker, API process and writer of secrets must share the same key"
    )]
    MissingEncryptionKey,
    /// More than one of the above: every bad setting, each with what is
    /// expected, found before anything was connected to or changed.
    #[error("{} settings are not valid; nothing was connected to or changed:\n{}", .0.len(), bullets(.0))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// One error as itself, several as `Several`; `None` for none.
    pub fn from_list(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Several(errors)),
        }
    }
}

fn bullets(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}
