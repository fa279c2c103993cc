//! Statements on the status columns a job type owns on `secret_syncs`
//! (`sync_status`, `last_sync_job_id`, ...). Each is written once, with
//! `{status}`, `{job}`, `{message}` and `{at}` standing for the job type's
//! columns, and filled in once per job type on first use: the same text
//! every call, so the per-connection prepared statement cache hits.

use std::sync::OnceLock;

use crate::model::JobType;

/// A statement template and its text for each job type.
pub(super) struct StatusStatement {
    template: &'static str,
    filled: OnceLock<[String; 3]>,
}

impl StatusStatement {
    pub(super) const fn new(template: &'static str) -> StatusStatement {
        StatusStatement {
            template,
            filled: OnceLock::new(),
        }
    }

    /// The statement for `job_type`'s columns.
    pub(super) fn sql(&self, job_type: JobType) -> &str {
        let filled = self
            .filled
            .get_or_init(|| JobType::ALL.map(|t| fill(self.template, t)));
        &filled[index(job_type)]
    }
}

fn index(job_type: JobType) -> usize {
    match job_type {
        JobType::Sync => 0,
        JobType::Import => 1,
        JobType::Remove => 2,
    }
}

/// The four status columns of a job type (static names, so putting them
/// into SQL is safe).
fn columns(t: JobType) -> [(&'static str, &'static str); 4] {
    let (status, job, message, at) = match t {
        JobType::Sync => (
            "sync_status",
            "last_sync_job_id",
            "last_sync_message",
            "last_synced_at",
        ),
        JobType::Import => (
            "import_status",
            "last_import_job_id",
            "last_import_message",
            "last_imported_at",
        ),
        JobType::Remove => (
            "remove_status",
            "last_remove_job_id",
            "last_remove_message",
            "last_removed_at",
        ),
    };
    [
        ("{status}", status),
        ("{job}", job),
        ("{message}", message),
        ("{at}", at),
    ]
}

fn fill(template: &str, t: JobType) -> String {
    columns(t)
        .iter()
        .fold(template.to_string(), |sql, (name, column)| {
            sql.replace(name, column)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_column_of_the_job_type() {
        static S: StatusStatement = StatusStatement::new(
            "UPDATE secret_syncs SET {status} = 'x', {job} = $1, {message} = $2, {at} = now()",
        );
        assert_eq!(
            S.sql(JobType::Import),
            "UPDATE secret_syncs SET import_status = 'x', last_import_job_id = $1, \
             last_import_message = $2, last_imported_at = now()"
        );
        assert_eq!(
            S.sql(JobType::Sync),
            "UPDATE secret_syncs SET sync_status = 'x', last_sync_job_id = $1, \
             last_sync_message = $2, last_synced_at = now()"
        );
        assert!(!S.sql(JobType::Remove).contains('{'));
    }
}
