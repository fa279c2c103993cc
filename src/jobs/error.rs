use std::time::Duration;

use uuid::Uuid;

use super::plan::PlanError;
use super::settings::SettingsError;
use crate::crypto::CryptoError;
use crate::humanitec::{HumanitecError, Scope};
use crate::queue::QueueError;
use crate::store::StoreError;

/// Why a job failed. `Display` is the message users see on the sync row:
/// what failed, which sync or key, and what to do. Never a value or token.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("sync {0} does not exist (deleted?); nothing to do")]
    SyncNotFound(Uuid),
    #[error(
        "the sync's connection {0} does not exist any more; point the sync at an \
         existing Humanitec connection"
    )]
    ConnectionNotFound(Uuid),
    #[error("connection `{name}` cannot be used: {reason}")]
    ConnectionUnusable { name: String, reason: String },
    #[error(
        "the sync's source folder no longer exists; point the sync at an existing \
         folder (environment and secret path)"
    )]
    FolderMissing,
    #[error("{0}")]
    Settings(#[from] SettingsError),
    #[error(
        "{what} could not be decrypted ({source}); check that ENCRYPTION_KEY is the \
         key the writer used"
    )]
    Decrypt {
        what: String,
        #[source]
        source: CryptoError,
    },
    #[error("{0}")]
    Plan(#[from] PlanError),
    #[error("{}", conflict_message(.this, .others))]
    Conflict {
        /// This sync, named with its destination.
        this: String,
        /// Each conflicting sync, named (`sync `x` (id, destination)`, or
        /// anonymously when of another project), with the keys both would write.
        others: Vec<(String, Vec<String>)>,
    },
    #[error("{}", humanitec_message(.error, .scope))]
    Humanitec {
        error: Box<HumanitecError>,
        scope: Option<Box<Scope>>,
    },
    /// Several keys failed; `transient` when every failure may pass.
    #[error("{failed} of {total} Humanitec writes failed: {details}")]
    Writes {
        failed: usize,
        total: usize,
        details: String,
        transient: bool,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Queue(#[from] QueueError),
}

fn conflict_message(this: &str, others: &[(String, Vec<String>)]) -> String {
    let each = others
        .iter()
        .map(|(name, keys)| {
            if keys.is_empty() {
                format!("{name}, whose key schema can produce the same keys")
            } else {
                format!("{name}, which also writes {}", keys.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "Sync {this} conflicts with {each}: both write to the same Humanitec values, so each \
         run would overwrite or delete the other's keys. Give one of them a distinct key schema \
         (for example `PREFIX_{{{{secretKey}}}}`) or another destination; nothing was written"
    )
}

fn humanitec_message(error: &HumanitecError, scope: &Option<Box<Scope>>) -> String {
    let target = scope
        .as_ref()
        .map(|s| format!(" `{}`", s.label()))
        .unwrap_or_default();
    let hint = match error.status() {
        Some(401) => " Humanitec rejected the connection's API token: check the connection's token (revoked or expired?) and update the connection.".to_string(),
        Some(403) => format!(
            " The token's service user may not access{target}: give it at least the Developer role on the app."
        ),
        Some(404) => format!(
            " Humanitec does not know{target}: check org, app and env in the sync's destination_config."
        ),
        Some(400) | Some(422) => " Humanitec refused the request as invalid; check the destination_config and keys.".to_string(),
        // Whether the job is retried is said by the caller ("Next attempt
        // at ..." or "Failed after N attempts"), not here.
        Some(429) => " Humanitec is rate limiting.".to_string(),
        Some(s) if s >= 500 => " Humanitec is failing; this usually passes.".to_string(),
        _ => String::new(),
    };
    format!("{error}.{hint}")
}

impl JobError {
    pub fn humanitec(error: HumanitecError, scope: &Scope) -> Self {
        JobError::Humanitec {
            error: Box::new(error),
            scope: Some(Box::new(scope.clone())),
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::Humanitec { error, .. } => error.is_transient(),
            JobError::Writes { transient, .. } => *transient,
            JobError::Store(e) => e.is_transient(),
            JobError::Queue(_) => true,
            _ => false,
        }
    }

    /// Humanitec's Retry-After, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            JobError::Humanitec { error, .. } => error.retry_after(),
            JobError::Writes { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
