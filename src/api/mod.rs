//! `secret-sync api`: the seed's Secret Sync API and the App Connection
//! API over HTTP, a process of its own sharing the database and broker
//! with the workers. Documented in `docs/api.md` and `docs/openapi.json`.

pub mod auth;
mod connections;
mod errors;
pub mod openapi;
mod preview;
mod router;
mod syncs;
mod validation;

use std::sync::Arc;
use std::time::Duration;

pub use errors::ApiError;
pub use router::{router, ApiState};

use crate::config::{ConfigError, Settings};
use crate::crypto::CryptoError;
use crate::enqueue::JobClient;
use crate::humanitec::{HttpPolicy, HumanitecClient, HumanitecError};
use crate::queue::QueueError;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Humanitec(#[from] HumanitecError),
    #[error("the API document is broken: {0}")]
    Document(String),
}

impl ApiState {
    /// Checks the key, migrates the database, connects to the broker.
    pub async fn build(settings: &Settings) -> Result<ApiState, ApiStartError> {
        // ENCRYPTION_KEY, and ENCRYPTION_KEY_PREVIOUS during a rotation.
        let cipher = settings.cipher()?;
        let validators = openapi::Validators::load().map_err(ApiStartError::Document)?;
        crate::store::ensure_database(&settings.database_url).await?;
        let store = Store::for_settings(settings, 16)?;
        let applied = store.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied database migrations");
        }
        let retry = &settings.worker.retry;
        // A caller is waiting: check tokens briefly, one quick retry.
        let humanitec = HumanitecClient::new(
            &settings.humanitec_api_url,
            HttpPolicy {
                timeout: settings.worker.http_timeout.min(Duration::from_secs(10)),
                retries: retry.http_retries.min(1),
                min_delay: retry.http_min_delay,
                max_delay: retry.http_max_delay,
                retry_after_cap: Duration::from_secs(2),
                ..HttpPolicy::default()
            },
        )?;
        let jobs = JobClient::connect(settings, store.clone()).await?;
        Ok(ApiState {
            store,
            jobs: Arc::new(jobs),
            cipher,
            humanitec,
            validators: Arc::new(validators),
            dashboard: Arc::new(crate::dashboard::DashConfig::new(settings)?),
        })
    }
}
