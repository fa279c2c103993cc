//! What deciding a job's fate needs to know of a failed attempt.

use std::time::Duration;

/// A failed attempt: `Display` is what its user is told (the message on the
/// rows); the rest says whether trying again later may help, and when.
pub trait AttemptFailure: std::fmt::Display {
    /// Whether retrying later may succeed.
    fn is_transient(&self) -> bool;
    /// The earliest retry the destination asked for, if it did.
    fn retry_after(&self) -> Option<Duration>;
    /// The destination's HTTP status, when its answer ended the attempt.
    fn humanitec_status(&self) -> Option<u16> {
        None
    }
    /// The attempt stopped because a pause holds its writes: nothing
    /// failed, the job waits for the resume.
    fn is_paused(&self) -> bool {
        false
    }
}
