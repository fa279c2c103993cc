//! `secret-sync status`: syncs and their latest jobs, as a table or JSON.

use uuid::Uuid;

use super::CliResult;
use crate::store::{JobRow, Store, SyncStatusRow};

pub async fn print(store: &Store, sync: Option<Uuid>, limit: i64, json: bool) -> CliResult {
    let syncs = store.sync_statuses(sync).await?;
    let jobs = store.recent_jobs(sync, limit).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"syncs": syncs, "jobs": jobs}))?
        );
    } else {
        print_table(&syncs, &jobs);
    }
    Ok(())
}

fn print_table(syncs: &[SyncStatusRow], jobs: &[JobRow]) {
    println!("{:<36}  {:<20}  {:<10}  MESSAGE", "SYNC", "NAME", "STATUS");
    for s in syncs {
        println!(
            "{:<36}  {:<20}  {:<10}  {}",
            s.id,
            s.name,
            s.sync_status.map_or("-", |st| st.as_str()),
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
