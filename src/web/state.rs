//! What every handler shares, API and dashboard alike, and how it is built
//! at start: the key checked, the database migrated, the broker connected.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::api::openapi::Validators;
use super::limits::RateLimiters;
use crate::config::{ConfigError, SessionSettings, Settings};
use crate::crypto::{Aad, Cipher, Column, CryptoError};
use crate::engine::JobClient;
use crate::http::Metrics;
use crate::humanitec::{HttpPolicy, HumanitecClient, HumanitecError};
use crate::notify::email::{EmailSettings, StoredEmail};
use crate::queue::{DeadLetterRoom, Link, Names, QueueError};
use crate::service::SyncService;
use crate::store::{ChannelRecord, Store, StoreError};

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    /// The rules every sync change goes through, whichever face asked.
    pub syncs: SyncService,
    pub jobs: Arc<JobClient>,
    pub cipher: Cipher,
    pub humanitec: HumanitecClient,
    pub validators: Arc<Validators>,
    /// What the ops dashboard needs beyond the API's state.
    pub dashboard: Arc<DashConfig>,
    /// Per-token limits on triggers, previews and writes.
    pub limits: Arc<RateLimiters>,
    /// Requests by route and status, latency, the process's figures
    /// (served on `HTTP_LISTEN`'s `/metrics`).
    pub metrics: Metrics,
}

/// What the dashboard needs beyond the API's state.
pub struct DashConfig {
    /// Keys the CSRF tokens (an HMAC of the session id). Derived from
    /// ENCRYPTION_KEY, so every API replica accepts the others' forms.
    pub(in crate::web) csrf_key: [u8; 32],
    /// The process's one broker connection (shared with the API's triggers).
    pub(in crate::web) link: Link,
    /// The dead-letter queue through one shared broker connection.
    pub(in crate::web) dead: DeadLetterRoom,
    /// Dead letters read (and held) at most per page, settled at most per action.
    pub(in crate::web) dead_page: usize,
    /// How long sessions live (absolute and idle).
    pub(in crate::web) session: SessionSettings,
    /// `NOTIFY_ALLOW_PRIVATE_TARGETS`: channels may target internal addresses.
    pub(in crate::web) allow_private_targets: bool,
    /// `NOTIFY_*`: the channel limit and the target's DNS deadline.
    pub(in crate::web) notify: crate::config::NotifySettings,
}

impl DashConfig {
    pub fn new(settings: &Settings, link: Link) -> Result<DashConfig, ConfigError> {
        let key = settings.require_encryption_key()?;
        let csrf_key: [u8; 32] = Sha256::new()
            .chain_update(b"secret-sync dashboard csrf v1\0")
            .chain_update(key.as_bytes())
            .finalize()
            .into();
        Ok(DashConfig {
            csrf_key,
            dead: DeadLetterRoom::new(link.clone()),
            dead_page: settings.dead_letter_page_size.max(1),
            link,
            session: settings.session,
            allow_private_targets: settings.notify_allow_private_targets,
            notify: settings.notify.clone(),
        })
    }
}

/// How long the API's start waits for its first broker connection.
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(60);

/// How long a trigger waits for a broker connection attempt in flight
/// before it answers 503 (a broker that accepts connections but does not
/// answer would otherwise hold every trigger for the connect timeout).
pub const TRIGGER_WAIT: Duration = Duration::from_millis(1500);

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
    /// An email channel's settings as the API and the console show them:
    /// host, port and security from its encrypted server URL, the rest as
    /// stored (`None`: not an email channel, or unreadable).
    pub fn email_settings(&self, c: &ChannelRecord) -> Option<EmailSettings> {
        let stored: StoredEmail = serde_json::from_value(c.email.clone()?).ok()?;
        let server = self
            .cipher
            .decrypt_string(
                &c.encrypted_url,
                Aad::new(&c.project_id, Column::ChannelUrl),
            )
            .ok()?;
        EmailSettings::from_parts(&server, stored)
    }

    /// The process's broker connection (for readiness).
    pub fn link(&self) -> &Link {
        &self.dashboard.link
    }

    /// Checks the key, migrates the database, connects to the broker.
    pub async fn build(settings: &Settings) -> Result<ApiState, ApiStartError> {
        // ENCRYPTION_KEY, and ENCRYPTION_KEY_PREVIOUS during a rotation.
        let cipher = settings.cipher()?;
        let validators = Validators::load().map_err(ApiStartError::Document)?;
        crate::store::ensure_database(&settings.database_url).await?;
        let store = Store::open(&settings.store(16))?;
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
        // One broker connection for the process: triggers, the dashboard's
        // reads and the dead letters share it. The first is awaited, so a
        // bad AMQP_URL stops the start with its reason.
        let link = Link::new(
            settings,
            Names::new(&settings.queue_prefix),
            "secret-sync api",
        );
        link.broker(FIRST_CONNECT_WAIT).await?;
        let metrics = Metrics::new();
        let jobs = Arc::new(JobClient::on(
            link.clone(),
            settings,
            store.clone(),
            TRIGGER_WAIT,
        ));
        Ok(ApiState {
            syncs: SyncService::new(
                store.clone(),
                jobs.clone(),
                humanitec.clone(),
                cipher.clone(),
            ),
            store,
            jobs,
            cipher,
            humanitec,
            validators: Arc::new(validators),
            dashboard: Arc::new(DashConfig::new(settings, link)?),
            limits: Arc::new(RateLimiters::new(&settings.rate_limits, metrics.clone())),
            metrics,
        })
    }
}
