//! What a delivered job finds when it starts, read under its sync's lease:
//! its own row, its sync, and the sync's queued marker.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{JobStatus, SyncRecord};

/// A job row's state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobState {
    pub status: JobStatus,
    pub attempt: i32,
    /// Set once the job took its sync's queued marker.
    pub covers_until: Option<DateTime<Utc>>,
}

/// A queued job's marker, taken by the runner as the job starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakenMarker {
    /// Requests the job absorbed.
    pub coalesced: i32,
    /// From now on requests queue a new job: this job covers those before.
    pub taken_at: DateTime<Utc>,
}

/// Everything `jobs::admit` and the run need, read under the lease.
#[derive(Clone, Debug)]
pub struct StartView {
    /// The job's row before this start (None: no row yet).
    pub state: Option<JobState>,
    /// None when the sync row is gone.
    pub sync: Option<SyncRecord>,
    /// The sync's queued marker, if it was this job's (now taken).
    pub marker: Option<TakenMarker>,
    /// Start of the latest successful run of this job type for the sync.
    pub latest_success: Option<DateTime<Utc>>,
    /// The marker is this job's, but requests are still folding into it
    /// (see [`Debounce`]): it was left in place; look again after this.
    pub debounce_wait: Option<Duration>,
    /// The database's clock when this was read: the run's start, as the
    /// supersede rule compares it (never later than the run's first read).
    pub opened_at: DateTime<Utc>,
    /// The message's `jobId` names a job row of another sync.
    pub foreign_job: bool,
    /// A pause that holds this sync's writes (its connection's or the
    /// instance's), read in the same statement; its queued marker was
    /// then left in place.
    pub paused: Option<super::PauseNote>,
}

/// The trailing debounce of plain sync jobs: a queued one starts once no
/// request has folded into it for `quiet` (`SYNC_DEBOUNCE`), or `max_wait`
/// (`SYNC_DEBOUNCE_MAX_WAIT`) after its first request, whichever is first.
/// So a burst of changes that outlasts a run costs one more run, not one
/// per slice of the burst, and a never-ending stream still syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Debounce {
    pub quiet: Duration,
    pub max_wait: Duration,
}
