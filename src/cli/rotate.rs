//! `secret-sync rotate-key`: see `jobs::rotate`; prints progress per table
//! and a summary (counts and ids, never values).

use super::CliResult;
use crate::config::Settings;
use crate::jobs::rotate::rotate_key;
use crate::jobs::JobContext;
use crate::store::Store;

pub async fn run(settings: &Settings, json: bool) -> CliResult {
    let store = Store::for_settings(settings, 4)?;
    let ctx = JobContext::from_settings(settings, store)?;
    let report = rotate_key(&ctx, |table, t| {
        if !json {
            eprintln!(
                "{table}: {} re-encrypted, {} already current, {} left, {} unreadable",
                t.rewritten, t.current, t.left, t.unreadable
            );
        }
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "rotation done: {} secrets and {} connections re-encrypted, {} fingerprints re-keyed",
            report.secrets.rewritten, report.connections.rewritten, report.fingerprints.rewritten
        );
        if !report.unreadable_ids.is_empty() {
            println!(
                "unreadable under both keys (left untouched; re-enter them): {:?}",
                report.unreadable_ids
            );
        }
        println!("when every process runs with the new key alone, unset ENCRYPTION_KEY_PREVIOUS");
    }
    if report.unreadable_ids.is_empty() {
        Ok(())
    } else {
        Err("some rows could not be read under either key (see above)".into())
    }
}
