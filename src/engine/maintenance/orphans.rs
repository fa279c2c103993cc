//! Orphans: publishes again the jobs whose rows stayed `pending` far longer
//! than a queued job waits. A failover of Postgres that lost the outcome of
//! a job RabbitMQ had already been told about (acknowledged) leaves such a
//! row with no message behind it; this way it still ends. A job whose
//! message is in fact still queued (a long backlog) runs once: the later
//! copy finds the row final and is skipped. One that cannot be published
//! as it was asked (its kind unknown to this version) is failed, saying so.
//!
//! Its own loop, beside the reaper's rather than a step of it (as it was):
//! the two share a period, but not a dependency; one job per loop, each
//! with its own round to test, and a broker that is slow to answer the
//! orphans no longer holds up the reaping of stale jobs.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{run_rounds, ConfigError, LoopHandle, TestSignal};
use crate::config::Settings;
use crate::model::{Job, JobEnvelope, JobKind};
use crate::queue::{Link, QueueError};
use crate::store::{OrphanFate, Store, StoreError};

const SERVICE: &str = "orphans";

/// A `pending` row untouched for this many `JOB_STALE_AFTER` is taken for
/// an orphan.
pub const ORPHAN_AFTER_STALE: u32 = 5;

/// Orphans claimed per round.
pub const ORPHANS_PER_ROUND: i64 = 500;

#[derive(Clone, Debug)]
pub struct OrphansConfig {
    /// A `pending` row untouched this long is an orphan.
    pub orphan_after: Duration,
    /// How often it looks; the first round is one period after the start.
    pub every: Duration,
    /// Orphans claimed per round at most.
    pub per_round: i64,
}

impl OrphansConfig {
    /// Orphans after [`ORPHAN_AFTER_STALE`] times `stale_after`, looked
    /// for as often as the reaper looks for stale jobs (half of
    /// `stale_after`, at most once a second: see `ReaperConfig::new`).
    pub fn new(stale_after: Duration) -> OrphansConfig {
        OrphansConfig {
            orphan_after: stale_after * ORPHAN_AFTER_STALE,
            every: super::reaper::ReaperConfig::new(stale_after).every,
            per_round: ORPHANS_PER_ROUND,
        }
    }

    pub fn from_settings(settings: &Settings) -> OrphansConfig {
        OrphansConfig::new(settings.worker.stale_after)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::zero(SERVICE, "period", self.every)?;
        ConfigError::at_least(SERVICE, "per_round", self.per_round.max(0) as u64, 1)
    }
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrphansRound {
    /// Orphaned rows claimed (each is claimed again later unless it ended
    /// here).
    pub claimed: usize,
    /// Published again as they were queued.
    pub republished: Vec<uuid::Uuid>,
    /// Failed, since they cannot run as they were asked.
    pub failed: Vec<uuid::Uuid>,
    /// Neither, this round (an error each, logged); claimed again later.
    pub left: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OrphansError {
    #[error("could not look for orphaned jobs: {0}")]
    Store(#[from] StoreError),
    /// The broker did not answer; the orphans are claimed again later.
    #[error(
        "could not publish {count} orphaned job(s) again; they are claimed again later: {source}"
    )]
    Broker { count: usize, source: QueueError },
}

#[derive(Clone, Debug, Default)]
pub struct TestSignals {
    /// Every round's outcome, once it is done.
    pub round_done: TestSignal<Result<OrphansRound, OrphansError>>,
}

pub struct Orphans {
    config: OrphansConfig,
    store: Store,
    link: Link,
    signals: TestSignals,
}

impl Orphans {
    /// Publishes through `link` (the worker's one broker connection).
    pub fn new(config: OrphansConfig, store: Store, link: Link) -> Result<Orphans, ConfigError> {
        config.validate()?;
        Ok(Orphans {
            config,
            store,
            link,
            signals: TestSignals::default(),
        })
    }

    pub fn with_test_signals(mut self, signals: TestSignals) -> Orphans {
        self.signals = signals;
        self
    }

    /// Claims the orphans, fails those that cannot run as asked, and
    /// publishes the others again.
    pub async fn run_once(&self) -> Result<OrphansRound, OrphansError> {
        let orphans = self
            .store
            .ledger
            .claim_orphaned_jobs(self.config.orphan_after, self.config.per_round)
            .await?;
        let mut round = OrphansRound {
            claimed: orphans.len(),
            ..OrphansRound::default()
        };
        let mut republish = Vec::with_capacity(orphans.len());
        for orphan in orphans {
            match &orphan.fate {
                OrphanFate::Republish(kind) => {
                    republish.push((orphan.job_id, orphan.sync_id, *kind))
                }
                OrphanFate::Fail(message) => {
                    match self.store.ledger.fail_orphan(&orphan, message).await {
                        Ok(()) => {
                            tracing::warn!(job_id = %orphan.job_id, sync_id = %orphan.sync_id,
                            message = %message, "job stayed pending with no worker on it and cannot run as asked; failed it");
                            round.failed.push(orphan.job_id);
                        }
                        Err(e) => {
                            tracing::warn!(job_id = %orphan.job_id, error = %e,
                            "could not fail an orphaned job; it is claimed again later");
                            round.left += 1;
                        }
                    }
                }
            }
        }
        if republish.is_empty() {
            return Ok(round);
        }
        let broker = match self.link.broker(super::BROKER_WAIT).await {
            Ok(broker) => broker,
            Err(source) => {
                return Err(OrphansError::Broker {
                    count: republish.len(),
                    source,
                })
            }
        };
        match broker.publisher().await {
            Ok(publisher) => {
                for (id, sync_id, kind) in republish {
                    match publish(&publisher, id, sync_id, kind).await {
                        Ok(()) => {
                            tracing::warn!(job_id = %id, sync_id = %sync_id,
                                "job stayed pending with no worker on it; published it again");
                            round.republished.push(id);
                        }
                        Err(e) => {
                            tracing::warn!(job_id = %id, error = %e,
                                "could not publish an orphaned job again; it is claimed again later");
                            round.left += 1;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not open a publisher for orphaned jobs");
                round.left += republish.len();
            }
        }
        Ok(round)
    }

    /// Runs a round every `every` (the first one period after the start),
    /// until stopped.
    pub fn start(self, shutdown: &CancellationToken) -> LoopHandle {
        LoopHandle::spawn(SERVICE, shutdown, |stop| async move {
            run_rounds(
                &stop,
                (self.config.every, self.config.every),
                || self.run_once(),
                Some("orphaned jobs: round failed"),
                &self.signals.round_done,
            )
            .await;
        })
    }
}

/// Publishes the job again as it was queued (trigger `republished`).
async fn publish(
    publisher: &crate::queue::Publisher,
    id: uuid::Uuid,
    sync_id: uuid::Uuid,
    kind: JobKind,
) -> Result<(), QueueError> {
    let job = Job {
        id,
        sync_id,
        kind,
        trigger: Some("republished".into()),
        actor: None,
    };
    let envelope = JobEnvelope::first(chrono::Utc::now());
    publisher.publish_job(&job, envelope, None).await
}
