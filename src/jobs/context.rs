//! What every job needs: the store, the Humanitec client, the cipher.

use super::error::JobError;
use super::settings::SyncSettings;
use crate::crypto::Cipher;
use crate::humanitec::HumanitecClient;
use crate::store::{FolderRecord, Store, SyncRecord};

/// The dependencies of a job. Cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    pub store: Store,
    pub humanitec: HumanitecClient,
    pub cipher: Cipher,
    /// Humanitec writes in flight at once within one job.
    pub write_concurrency: usize,
}

/// The folder a job reads, or the error that says it is gone.
pub fn folder_of(sync: &SyncRecord) -> Result<&FolderRecord, JobError> {
    sync.folder.as_ref().ok_or(JobError::FolderMissing)
}

/// The sync's JSON columns, parsed for its folder's environment.
pub fn settings_of(sync: &SyncRecord) -> Result<SyncSettings, JobError> {
    let env = sync
        .folder
        .as_ref()
        .map(|f| f.environment_slug.as_str())
        .unwrap_or_default();
    Ok(SyncSettings::parse(
        &sync.destination_config,
        &sync.sync_options,
        env,
    )?)
}
