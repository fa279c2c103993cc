//! What a finished job says on its rows.

use std::time::Duration;

use super::error::JobError;
use crate::humanitec::{HumanitecError, Scope};
use crate::model::Counts;

/// A successful job's counts and summary message.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub counts: Counts,
    pub message: String,
}

impl Report {
    pub fn sync(c: Counts, destination: &str) -> Report {
        Report {
            counts: c,
            message: format!(
                "Synced to {destination}: {} created, {} updated, {} deleted, {} unchanged",
                c.created, c.updated, c.deleted, c.unchanged
            ),
        }
    }
}

/// Folds per-key failures into one job error that names the keys.
pub fn summarize_failures(
    mut failures: Vec<(String, HumanitecError)>,
    total: usize,
    scope: &Scope,
) -> JobError {
    let transient = failures.iter().all(|(_, e)| e.is_transient());
    let retry_after: Option<Duration> = failures.iter().filter_map(|(_, e)| e.retry_after()).max();
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
    JobError::Writes {
        failed: failures.len(),
        total,
        details,
        transient,
        retry_after,
    }
}
