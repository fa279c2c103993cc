//! `secret-sync status`: syncs and their latest jobs, as a table or JSON.
//! Exits 2 when any sync's latest sync, import or remove failed, so cron
//! and monitoring can run it as a check.

use uuid::Uuid;

use super::CliResult;
use crate::model::JobStatus;
use crate::store::{JobRow, Store, SyncStatusRow};

/// Some syncs are failed: `status` exits with [`FailedSyncs::EXIT_CODE`].
#[derive(Debug, thiserror::Error)]
#[error("{} sync(s) failed: {}; see the MESSAGE column, fix the cause, then enqueue a new job", .0.len(), .0.join(", "))]
pub struct FailedSyncs(pub Vec<String>);

impl FailedSyncs {
    /// Distinct from 1 (could not check at all).
    pub const EXIT_CODE: u8 = 2;
}

fn failed(s: &SyncStatusRow) -> bool {
    [s.sync_status, s.import_status, s.remove_status].contains(&Some(JobStatus::Failed))
}

pub async fn print(store: &Store, sync: Option<Uuid>, limit: i64, json: bool) -> CliResult {
    let syncs = store.reads.sync_statuses(sync).await?;
    let jobs = store.reads.recent_jobs(sync, limit).await?;
    let failed: Vec<String> = syncs
        .iter()
        .filter(|s| failed(s))
        .map(|s| format!("{} ({})", s.name, s.id))
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "syncs": syncs, "jobs": jobs, "failedSyncs": failed.len()
            }))?
        );
    } else {
        print_table(&syncs, &jobs);
        println!();
        println!(
            "{} sync(s), {} failed{}",
            syncs.len(),
            failed.len(),
            if failed.is_empty() {
                ""
            } else {
                " (exit code 2)"
            }
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(FailedSyncs(failed).into())
    }
}

fn print_table(syncs: &[SyncStatusRow], jobs: &[JobRow]) {
    println!(
        "{:<36}  {:<20}  {:<10}  {:<10}  {:<10}  MESSAGE",
        "SYNC", "NAME", "SYNC", "IMPORT", "REMOVE"
    );
    let st = |s: Option<JobStatus>| s.map_or("-", |st| st.as_str());
    for s in syncs {
        println!(
            "{:<36}  {:<20}  {:<10}  {:<10}  {:<10}  {}",
            s.id,
            s.name,
            st(s.sync_status),
            st(s.import_status),
            st(s.remove_status),
            s.last_sync_message.as_deref().unwrap_or("")
        );
    }
    println!();
    println!(
        "{:<36}  {:<6}  {:<9}  {:>3}  {:>3}/{:>3}/{:>3}/{:>3}  MESSAGE",
        "JOB", "TYPE", "STATUS", "TRY", "C", "U", "D", "="
    );
    for j in jobs {
        println!(
            "{:<36}  {:<6}  {:<9}  {:>3}  {:>3}/{:>3}/{:>3}/{:>3}  {}",
            j.id,
            j.job_type.as_str(),
            j.status.as_str(),
            j.attempt,
            j.created,
            j.updated,
            j.deleted,
            j.unchanged,
            j.message.as_deref().unwrap_or("")
        );
    }
}
