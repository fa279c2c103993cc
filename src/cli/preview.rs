//! `secret-sync preview <sync-id>`: what the next sync job would do, with
//! one Humanitec listing and no write. Names only, never values.

use uuid::Uuid;

use super::CliResult;
use crate::config::Settings;
use crate::jobs::{preview_sync, JobContext};
use crate::store::Store;

pub async fn print(
    settings: &Settings,
    sync_id: Uuid,
    prune_unmanaged: bool,
    json: bool,
) -> CliResult {
    let store = Store::open(&settings.store(2))?;
    let ctx = JobContext::from_settings(settings, store.clone())?;
    let sync = store
        .syncs
        .load_sync(sync_id)
        .await?
        .ok_or_else(|| format!("sync {sync_id} does not exist"))?;
    let preview = preview_sync(&ctx, &sync, prune_unmanaged).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&preview)?);
    } else {
        println!(
            "Preview of sync `{}` ({sync_id}): one listing, nothing written",
            sync.name
        );
        print!("{}", preview.to_text());
    }
    Ok(())
}
