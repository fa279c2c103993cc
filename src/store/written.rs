//! What an insert or rename on a table with a unique name came to.

use tokio_postgres::error::SqlState;

/// An insert or rename that may hit a unique name.
#[derive(Debug)]
pub enum Written<T> {
    Done(T),
    /// Another row of the project already has this name.
    DuplicateName,
    /// The row to change does not exist (any more).
    Missing,
    /// A sync's destination check refused it, under the destination's
    /// lock (see `DestinationCheck`): the reason, for the caller.
    Refused(String),
}

pub(super) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}
