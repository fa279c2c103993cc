//! Why a job failed: what its user is told (`JobFailure`), or the
//! infrastructure under it (`InfraError`); `JobError` is either.

use std::time::Duration;

use uuid::Uuid;

use super::plan::PlanError;
use super::settings::SettingsError;
use crate::crypto::CryptoError;
use crate::humanitec::HumanitecError;
use crate::model::{AttemptFailure, Scope};
use crate::store::StoreError;

/// Why a job failed, as its user is told on the rows: what failed, which
/// sync or key, and what to do. Never a value or token.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
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
    /// The source cannot be read as Infisical would push it (an import or
    /// reference cycle, a missing reference, a recursive clash).
    #[error("{0}")]
    Source(super::resolve::SourceError),
    /// Another sync writes the same values (`conflicts::refusal`).
    #[error("{0}")]
    Conflict(super::conflicts::Refusal),
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
        /// The first failed write's HTTP status, if Humanitec answered it.
        status: Option<u16>,
    },
}

/// The infrastructure under a job failed: the database (a job touches the
/// broker only through the runner's disposition, never from its own code).
/// Whether it may pass decides between a retry and a failure.
///
/// `Display` is what the sync's owners read (rows, webhooks, Slack): the
/// class of problem only. Hosts, users, database names and Postgres's own
/// words are the operators' business and go to the logs (`detail`).
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error("{}", store_class(.0))]
    Store(#[from] StoreError),
}

fn store_class(e: &StoreError) -> &'static str {
    match e {
        StoreError::Connect { .. } | StoreError::Pool(_) | StoreError::BadUrl { .. } => {
            "secret-sync could not reach its database; this is on the operators' side, not this \
             sync's (the worker's log has the detail under this job's id)"
        }
        _ => {
            "secret-sync's database failed; this is on the operators' side, not this sync's \
             (the worker's log has the detail under this job's id)"
        }
    }
}

impl InfraError {
    /// Every detail an operator needs (server, user, Postgres's message):
    /// for the logs only, never for a row or a notification.
    pub fn detail(&self) -> String {
        match self {
            InfraError::Store(e) => e.to_string(),
        }
    }
}

impl JobError {
    /// The operators' view of this error (`InfraError::detail` for the
    /// infrastructure; the same words as `Display` otherwise).
    pub fn detail(&self) -> String {
        match self {
            JobError::Infra(e) => e.detail(),
            other => other.to_string(),
        }
    }
}

/// Why a job attempt failed: the job's own failure, or its infrastructure's.
/// `Display` is the message on the rows, word for word either's.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Failed(#[from] JobFailure),
    #[error(transparent)]
    Infra(#[from] InfraError),
    /// Before its first write the run found its sync's lease gone (lost in
    /// a failover, or expired): it stops and hands the job back.
    #[error("this run lost its sync's lease before writing; the job runs again later")]
    LeaseLost,
    /// A pause holds the sync's Humanitec writes (issue 41): the run
    /// stopped before its next write; the job waits for the resume.
    #[error("Paused: Humanitec writes are held for this sync; the run stopped before its next write and the job runs once the pause ends")]
    Paused,
}

/// `?` on an error of a layer below makes the right kind of `JobError`.
macro_rules! job_error_from {
    ($($from:ty => $kind:ident),*) => {$(
        impl From<$from> for JobError {
            fn from(e: $from) -> Self {
                JobError::$kind(e.into())
            }
        }
    )*};
}

job_error_from!(
    StoreError => Infra,
    SettingsError => Failed,
    PlanError => Failed
);

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

impl JobFailure {
    pub fn humanitec(error: HumanitecError, scope: &Scope) -> Self {
        JobFailure::Humanitec {
            error: Box::new(error),
            scope: Some(Box::new(scope.clone())),
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            JobFailure::Humanitec { error, .. } => error.is_transient(),
            JobFailure::Writes { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Humanitec's Retry-After, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            JobFailure::Humanitec { error, .. } => error.retry_after(),
            JobFailure::Writes { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Humanitec's HTTP status, when its answer is why the job failed.
    pub fn humanitec_status(&self) -> Option<u16> {
        match self {
            JobFailure::Humanitec { error, .. } => error.status(),
            JobFailure::Writes { status, .. } => *status,
            _ => None,
        }
    }
}

impl InfraError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            InfraError::Store(e) => e.is_transient(),
        }
    }
}

impl JobError {
    pub fn humanitec(error: HumanitecError, scope: &Scope) -> Self {
        // A write a pause held back is not Humanitec's failure.
        if error.is_held() {
            return JobError::Paused;
        }
        JobError::Failed(JobFailure::humanitec(error, scope))
    }

    /// Two syncs fight over this job's destination: what the run would
    /// fail on, so a preview refuses the same way.
    pub fn is_conflict(&self) -> bool {
        matches!(self, JobError::Failed(JobFailure::Conflict(_)))
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::Failed(f) => f.is_transient(),
            JobError::Infra(e) => e.is_transient(),
            JobError::LeaseLost => true,
            JobError::Paused => false,
        }
    }

    /// Humanitec's Retry-After, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            JobError::Failed(f) => f.retry_after(),
            JobError::Infra(_) | JobError::LeaseLost | JobError::Paused => None,
        }
    }

    /// Humanitec's HTTP status, when its answer is why the attempt failed.
    pub fn humanitec_status(&self) -> Option<u16> {
        match self {
            JobError::Failed(f) => f.humanitec_status(),
            JobError::Infra(_) | JobError::LeaseLost | JobError::Paused => None,
        }
    }
}

impl AttemptFailure for JobError {
    fn is_transient(&self) -> bool {
        JobError::is_transient(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        JobError::retry_after(self)
    }

    fn humanitec_status(&self) -> Option<u16> {
        JobError::humanitec_status(self)
    }

    fn is_paused(&self) -> bool {
        matches!(self, JobError::Paused)
    }
}

/// Folds per-key failures into one job error that names the keys.
pub fn summarize_failures(
    mut failures: Vec<(String, HumanitecError)>,
    total: usize,
    scope: &Scope,
) -> JobError {
    // Writes a pause held back: the run stops, parked; what landed is
    // recorded by the caller, the rest is written after the resume.
    if failures.iter().any(|(_, e)| e.is_held()) {
        return JobError::Paused;
    }
    let transient = failures.iter().all(|(_, e)| e.is_transient());
    let retry_after: Option<Duration> = failures.iter().filter_map(|(_, e)| e.retry_after()).max();
    let status = failures.iter().find_map(|(_, e)| e.status());
    if failures.len() == 1
        || failures
            .iter()
            .all(|(_, e)| e.status().is_some_and(|s| s == 401 || s == 403))
    {
        // One cause: report it with its hint (a bad token fails every key alike).
        if !failures.is_empty() {
            let (_, error) = failures.swap_remove(0);
            return JobError::humanitec(error, scope);
        }
    }
    let details = failures
        .iter()
        .map(|(key, e)| format!("{key}: {e}"))
        .collect::<Vec<_>>()
        .join("; ");
    JobError::Failed(JobFailure::Writes {
        failed: failures.len(),
        total,
        details,
        transient,
        retry_after,
        status,
    })
}
