//! The domain's own types, shared by every layer (no I/O, and no import
//! from any other module of the crate). Wire formats map to these in
//! `queue/`; rows map to them in `store/`. Here: jobs, their status and
//! outcome; in sub-modules: a destination and its listing, a sync, what a
//! job starts from, the retry policy, what a failed attempt must say.

mod attempt;
mod audit;
mod destination;
mod failure;
mod keys;
mod pause;
mod retry;
mod start;
mod sync;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use attempt::JobAttempt;
pub use audit::{Actor, AuditEntry};
pub use destination::{is_valid_key, unaddressable, Scope, ValueResponse, ValueSource, WriteStamp};
pub use failure::AttemptFailure;
pub use keys::{KeyChanges, UpdatedKey};
pub use pause::{check_reason, PauseNote, REASON_MAX};
pub use retry::RetryPolicy;
pub use start::{Debounce, JobState, StartView, TakenMarker};
pub use sync::{FolderRecord, SyncRecord};

/// The three kinds of work, as a tag: routing key, status columns, metrics.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum JobType {
    Sync,
    Import,
    Remove,
}

impl JobType {
    pub const ALL: [JobType; 3] = [JobType::Sync, JobType::Import, JobType::Remove];

    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Sync => "sync",
            JobType::Import => "import",
            JobType::Remove => "remove",
        }
    }

    pub fn parse(s: &str) -> Option<JobType> {
        JobType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side wins when an import finds a key on both sides.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ImportBehavior {
    PrioritizeSource,
    PrioritizeDestination,
}

impl ImportBehavior {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportBehavior::PrioritizeSource => "prioritize-source",
            ImportBehavior::PrioritizeDestination => "prioritize-destination",
        }
    }
}

/// What a job does, with exactly the options that kind takes: an import
/// without a behaviour cannot exist past the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// `prune_unmanaged`: a one-off cleanup that also deletes destination
    /// keys the key schema matches but this sync never pushed.
    Sync {
        prune_unmanaged: bool,
    },
    Import {
        behavior: ImportBehavior,
    },
    Remove {
        delete_sync_on_complete: bool,
    },
}

/// Replaces the password of a URL's userinfo with `***`.
pub fn redact_url(url: &str) -> String {
    // A list of nodes (`AMQP_URL`), or a Postgres URL with several hosts:
    // each part on its own (a part without `scheme://` passes as it is).
    if url.contains(',') {
        return url.split(',').map(redact_url).collect::<Vec<_>>().join(",");
    }
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

/// Caller-supplied text echoed in a message, cut to a readable length
/// and stripped of control characters.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= MAX {
        clean
    } else {
        format!("{}…", clean.chars().take(MAX).collect::<String>())
    }
}

impl JobKind {
    /// The audit log's action for queueing a job of this kind.
    pub fn audit_action(self) -> &'static str {
        match self {
            JobKind::Sync { .. } => "sync.trigger",
            JobKind::Import { .. } => "sync.import",
            JobKind::Remove { .. } => "sync.remove",
        }
    }

    /// A plain sync job (no prune).
    pub const SYNC: JobKind = JobKind::Sync {
        prune_unmanaged: false,
    };

    /// Every kind, each with its own `coalescing_key`.
    pub const ALL: [JobKind; 6] = [
        JobKind::SYNC,
        JobKind::Sync {
            prune_unmanaged: true,
        },
        JobKind::Import {
            behavior: ImportBehavior::PrioritizeSource,
        },
        JobKind::Import {
            behavior: ImportBehavior::PrioritizeDestination,
        },
        JobKind::Remove {
            delete_sync_on_complete: false,
        },
        JobKind::Remove {
            delete_sync_on_complete: true,
        },
    ];

    /// The kind a `coalescing_key` names (kept on the job row, so that a
    /// job whose message was lost can be published again as it was asked).
    pub fn from_key(key: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.coalescing_key() == key)
    }

    /// Which queued job a request of this kind folds into: the same type
    /// with the same options (an import that prefers the source never folds
    /// into one that prefers Humanitec). A plain sync is `sync`.
    pub fn coalescing_key(self) -> &'static str {
        match self {
            JobKind::Sync {
                prune_unmanaged: false,
            } => "sync",
            JobKind::Sync {
                prune_unmanaged: true,
            } => "sync+prune",
            JobKind::Import {
                behavior: ImportBehavior::PrioritizeSource,
            } => "import:prioritize-source",
            JobKind::Import {
                behavior: ImportBehavior::PrioritizeDestination,
            } => "import:prioritize-destination",
            JobKind::Remove {
                delete_sync_on_complete: false,
            } => "remove",
            JobKind::Remove {
                delete_sync_on_complete: true,
            } => "remove+delete-sync",
        }
    }

    pub fn job_type(self) -> JobType {
        match self {
            JobKind::Sync { .. } => JobType::Sync,
            JobKind::Import { .. } => JobType::Import,
            JobKind::Remove { .. } => JobType::Remove,
        }
    }
}

/// A job: what to do to which sync, and who asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: Uuid,
    pub sync_id: Uuid,
    pub kind: JobKind,
    /// Who asked: `manual`, `api`, `auto-sync`, ... (free text, shown to users).
    pub trigger: Option<String>,
    /// Which API token (by name) or `cli` asked, where the enqueuer knows:
    /// kept on the job row, never sent over the broker.
    pub actor: Option<String>,
}

impl Job {
    /// A new job with a fresh id.
    pub fn new(sync_id: Uuid, kind: JobKind, trigger: impl Into<String>) -> Job {
        Job {
            id: Uuid::new_v4(),
            sync_id,
            kind,
            trigger: Some(trigger.into()),
            actor: None,
        }
    }

    pub fn job_type(&self) -> JobType {
        self.kind.job_type()
    }
}

/// Where a job stands across redeliveries (carried by the broker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobEnvelope {
    /// 1 for the first attempt; only failures that may pass spend attempts.
    pub attempt: u32,
    /// How many times the job was put back without running (sync busy,
    /// database unreachable); bounded so nothing cycles for ever.
    pub deferrals: u32,
    pub enqueued_at: DateTime<Utc>,
    /// The enqueuing service's trace (W3C `traceparent` header), continued
    /// in the job's logs.
    pub trace: Option<TraceParent>,
}

impl JobEnvelope {
    pub fn first(enqueued_at: DateTime<Utc>) -> JobEnvelope {
        JobEnvelope {
            attempt: 1,
            deferrals: 0,
            enqueued_at,
            trace: None,
        }
    }
}

/// A W3C Trace Context `traceparent`: `00-<32 hex trace id>-<16 hex parent
/// span id>-<2 hex flags>`. Only the ids are kept; an invalid header is
/// ignored, as the spec asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: u128,
    pub parent_id: u64,
    pub flags: u8,
}

impl TraceParent {
    pub fn parse(header: &str) -> Option<TraceParent> {
        let mut parts = header.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        // Version ff is forbidden; later versions may append fields.
        if !hex(version, 2) || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        if !hex(trace, 32) || !hex(parent, 16) || !hex(flags, 2) {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let parent_id = u64::from_str_radix(parent, 16).ok()?;
        if trace_id == 0 || parent_id == 0 {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags: u8::from_str_radix(flags, 16).ok()?,
        })
    }

    /// The trace id as 32 lowercase hex digits (as in the header).
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    pub fn parent_id_hex(&self) -> String {
        format!("{:016x}", self.parent_id)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

/// Status of a job row; sync rows use all but `Skipped` and `Paused`
/// (a sync whose job is parked by a pause shows `pending`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    /// Parked while a pause holds its sync's writes; runs on resume.
    Paused,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Skipped,
        JobStatus::Paused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Skipped => "skipped",
            JobStatus::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// A finished job is never run again (redeliveries are acknowledged).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Skipped
        )
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job did, per key, for the job row and the dashboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: i32,
    pub updated: i32,
    pub deleted: i32,
    pub unchanged: i32,
    pub skipped: i32,
}

/// How a job attempt ended. `Pending` means "waiting for a retry".
#[derive(Clone, Debug, PartialEq)]
pub struct JobOutcome {
    pub status: JobStatus,
    pub message: String,
    pub counts: Counts,
    /// The keys touched, when the job succeeded.
    pub keys: KeyChanges,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Humanitec's HTTP status, when a Humanitec answer ended the attempt
    /// (kept on the attempt's record).
    pub humanitec_status: Option<u16>,
    /// Humanitec's `Retry-After` on that answer, if it sent one.
    pub retry_after: Option<std::time::Duration>,
}

/// A successful job's counts and summary message.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub counts: Counts,
    pub message: String,
    pub keys: KeyChanges,
}

impl Report {
    pub fn sync(c: Counts, destination: &str, keys: KeyChanges) -> Report {
        Report {
            message: format!(
                "Synced to {destination}: {} created, {} updated, {} deleted, {} unchanged{}",
                c.created,
                c.updated,
                c.deleted,
                c.unchanged,
                unaddressable_note(&keys.skipped)
            ),
            keys: keys.sorted(),
            counts: c,
        }
    }
}

/// "; skipped …" naming the keys no Humanitec URL can address, or nothing.
pub fn unaddressable_note(skipped: &[String]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let names: Vec<String> = skipped.iter().map(|k| format!("`{k}`")).collect();
    format!(
        "; skipped {} key(s) no Humanitec URL can address ({}): rename them in the source",
        skipped.len(),
        names.join(", ")
    )
}

/// What a sync last pushed to one destination key: a keyed fingerprint of
/// key, value and description, and the `secret_version` Humanitec answered.
#[derive(Clone, Debug, PartialEq)]
pub struct PushedKey {
    pub key: String,
    pub fingerprint: Vec<u8>,
    pub secret_version: Option<String>,
    /// Humanitec's created_at/updated_at after our write (None for keys
    /// recorded before they were kept).
    pub stamp: Option<WriteStamp>,
}

/// Row messages are capped at this many characters (the brief's contract).
pub const MESSAGE_CAP: usize = 1024;

/// Cuts a message to `MESSAGE_CAP` characters, marking the cut.
pub fn cap_message(message: &str) -> String {
    if message.chars().count() <= MESSAGE_CAP {
        return message.to_string();
    }
    let mut out: String = message.chars().take(MESSAGE_CAP - 1).collect();
    out.push('…');
    out
}

/// Normalises a folder path: leading slash, no trailing slash, no empty parts.
pub fn normalize_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {

    #[test]
    fn traceparent_parses_the_w3c_format_and_ignores_invalid_ones() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceParent::parse(header).expect("valid");
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_id_hex(), "00f067aa0ba902b7");
        assert_eq!(t.to_string(), header);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        // A later version may carry more fields; the known ones are read.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx")
                .is_some()
        );
    }

    use super::*;

    #[test]
    fn messages_are_capped_at_1024_characters() {
        assert_eq!(cap_message("short"), "short");
        let long = "é".repeat(3000);
        let capped = cap_message(&long);
        assert_eq!(capped.chars().count(), MESSAGE_CAP);
        assert!(capped.ends_with('…'));
    }

    #[test]
    fn names_round_trip() {
        for t in JobType::ALL {
            assert_eq!(JobType::parse(t.as_str()), Some(t));
        }
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobType::parse("explode"), None);
    }

    #[test]
    fn kinds_know_their_type() {
        assert_eq!(JobKind::SYNC.job_type(), JobType::Sync);
        let import = JobKind::Import {
            behavior: ImportBehavior::PrioritizeSource,
        };
        assert_eq!(import.job_type(), JobType::Import);
        let remove = JobKind::Remove {
            delete_sync_on_complete: true,
        };
        assert_eq!(remove.job_type(), JobType::Remove);
    }

    #[test]
    fn only_requests_with_the_same_options_fold_together() {
        let kinds = JobKind::ALL;
        let keys: std::collections::HashSet<_> = kinds.iter().map(|k| k.coalescing_key()).collect();
        assert_eq!(keys.len(), kinds.len());
        // Rows written before other kinds coalesced carry `sync`.
        assert_eq!(JobKind::SYNC.coalescing_key(), "sync");
    }

    #[test]
    fn a_kind_is_read_back_from_its_key() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::from_key(kind.coalescing_key()), Some(kind));
        }
        assert_eq!(JobKind::from_key("import"), None);
        assert_eq!(JobKind::from_key(""), None);
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("a/b/"), "/a/b");
        assert_eq!(normalize_path("//a//b"), "/a/b");
    }
}
