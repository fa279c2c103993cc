//! Plain domain types shared by every layer (no I/O).

use serde::{Deserialize, Serialize};

pub use crate::queue::{ImportBehavior, JobType};

/// Status of a job row; sync rows use all but `Skipped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        Some(match s {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "skipped" => JobStatus::Skipped,
            _ => return None,
        })
    }

    /// A finished job is never run again (redeliveries are acknowledged).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Skipped
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_capped_at_1024_characters() {
        assert_eq!(cap_message("short"), "short");
        let long = "é".repeat(3000);
        let capped = cap_message(&long);
        assert_eq!(capped.chars().count(), MESSAGE_CAP);
        assert!(capped.ends_with('…'));
    }
}
