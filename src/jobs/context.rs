//! What every job needs: the store, the Humanitec client, the cipher.

use super::error::{JobError, JobFailure};
use super::settings::SyncSettings;
use crate::config::{ConfigError, Settings};
use crate::crypto::{Cipher, CryptoError};
use crate::humanitec::{HttpPolicy, HumanitecClient, HumanitecError, WriteLimit};
use crate::model::{FolderRecord, SyncRecord};
use crate::store::Store;

/// Writes in flight per connection before the adaptive limit has learnt
/// anything (it doubles per clean round trip from here).
const INITIAL_WRITE_LIMIT: usize = 4;

/// Why the job dependencies could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Humanitec(#[from] HumanitecError),
}

/// The dependencies of a job. Cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    pub store: Store,
    pub humanitec: HumanitecClient,
    pub cipher: Cipher,
    /// Humanitec writes in flight at once within one job.
    pub write_concurrency: usize,
}

impl JobContext {
    /// The dependencies from the configuration: the key (required), the
    /// Humanitec client with its retry policy.
    pub fn from_settings(settings: &Settings, store: Store) -> Result<JobContext, SetupError> {
        let cipher = settings.cipher()?;
        let w = &settings.worker;
        let humanitec = HumanitecClient::new(
            &settings.humanitec_api_url,
            HttpPolicy {
                timeout: w.http_timeout,
                retries: w.retry.http_retries,
                min_delay: w.retry.http_min_delay,
                max_delay: w.retry.http_max_delay,
                retry_after_cap: w.retry.retry_after_cap,
                write_limit: WriteLimit {
                    cap: w.write_concurrency,
                    adaptive: w.write_adaptive,
                    initial: INITIAL_WRITE_LIMIT.min(w.write_concurrency),
                },
            },
        )?;
        Ok(JobContext {
            store,
            humanitec,
            cipher,
            write_concurrency: w.write_concurrency,
        })
    }
}

/// The folder a job reads, or the error that says it is gone.
pub fn folder_of(sync: &SyncRecord) -> Result<&FolderRecord, JobError> {
    sync.folder
        .as_ref()
        .ok_or(JobError::Failed(JobFailure::FolderMissing))
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
