//! The one way to enqueue a job: publish it with confirms, then record it
//! `pending` on its rows. The CLI, the secret-change fan-out, the API, the
//! demo and the tests all come through here; so does the one helper that
//! waits for a job's final state.
//!
//! Jobs coalesce: while a job of a sync is queued and not started, another
//! request of the same kind (type and options) folds into that job (its
//! `coalesced` count goes up) instead of publishing a new one, and a new
//! plain sync job is published `SYNC_DEBOUNCE` late so that a burst of
//! secret changes lands in it. The runner takes the
//! marker away when the job starts (before reading the source), so a change
//! during a run queues exactly one more job: at most two runs per burst, and
//! the last one reads the final source.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;
use tracing::Instrument;
use uuid::Uuid;

use crate::config::Settings;
use crate::model::{Job, JobEnvelope, JobKind};
use crate::queue::{Broker, Link, Names, Publisher, QueueError, SecretChanged};
use crate::store::{Claim, JobRow, Store, StoreError};

/// A queued-job marker the broker never confirmed within this long belongs
/// to an enqueuer that died mid-way; the next request takes it over.
const UNCONFIRMED_MARKER_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("could not enqueue the job: {0}")]
    Queue(#[from] QueueError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("job {job_id} did not finish within {}s (last status: {last})", .waited.as_secs())]
    Timeout {
        job_id: Uuid,
        waited: Duration,
        last: String,
    },
}

/// Publishes `job` (confirmed by the broker), then marks it `pending` on its
/// job row and sync row; returns the id of the job that will do the work.
/// A job folds into the sync's queued job of its kind if there is one (that
/// job's id is returned, nothing is published); otherwise it is published,
/// a plain sync job `debounce` late. Once published the job will run whatever happens next,
/// so a failure to write the `pending` mark is logged, not returned: the
/// worker writes the rows itself when it picks the job up.
pub async fn enqueue(
    publisher: &Publisher,
    store: &Store,
    job: &Job,
    debounce: Duration,
) -> Result<Uuid, QueueError> {
    let kind = job.kind.coalescing_key();
    let claimed = match store
        .ledger
        .claim_queued(job.sync_id, kind, job.id, UNCONFIRMED_MARKER_AFTER)
        .await
    {
        Ok(Claim::Folded { job_id, coalesced }) => {
            tracing::debug!(%job_id, sync_id = %job.sync_id, kind, coalesced,
                "a job of this kind is already queued for this sync; folded into it");
            return Ok(job_id);
        }
        Ok(Claim::New) => true,
        // Coalescing is an optimisation; never lose a request to it.
        Err(e) => {
            tracing::warn!(sync_id = %job.sync_id, kind, error = %e,
                "could not check for a queued job; publishing one of its own");
            false
        }
    };
    // Only secret changes come in bursts; an operator's import or remove
    // starts at once.
    let debounced = claimed && job.kind == JobKind::SYNC && !debounce.is_zero();
    let delay = debounced.then_some(debounce);
    // The publish is a span of the caller's trace (an API request's), and
    // the message carries it on as `traceparent` to the worker's job.
    let span = tracing::info_span!(target: crate::telemetry::SPANS, "publish",
        otel.name = "publish jobs", otel.kind = "producer", messaging.system = "rabbitmq",
        messaging.operation.name = "publish", sync_id = %job.sync_id, job_id = %job.id,
        job_type = job.job_type().as_str());
    let envelope = JobEnvelope {
        trace: crate::telemetry::traceparent_of(&span),
        ..JobEnvelope::first(Utc::now())
    };
    if let Err(e) = publisher
        .publish_job(job, envelope, delay)
        .instrument(span)
        .await
    {
        if claimed {
            if let Err(e) = store.ledger.drop_queued_marker(job.sync_id, job.id).await {
                tracing::warn!(job_id = %job.id, sync_id = %job.sync_id, error = %e,
                    "could not drop the marker of an unpublished job; the next request takes it over after {}s",
                    UNCONFIRMED_MARKER_AFTER.as_secs());
            }
        }
        return Err(e);
    }
    if let Err(e) = store.ledger.record_enqueued(job).await {
        tracing::warn!(job_id = %job.id, sync_id = %job.sync_id, error = %e,
            "job published, but its pending mark could not be written; the worker will write its rows");
    }
    Ok(job.id)
}

/// Waits until the job's row is final (`succeeded`, `failed`, `skipped`).
pub async fn wait_for_job(
    store: &Store,
    job_id: Uuid,
    timeout: Duration,
) -> Result<JobRow, EnqueueError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let row = store.reads.job(job_id).await?;
        if let Some(row) = &row {
            if row.status.is_final() {
                return Ok(row.clone());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(EnqueueError::Timeout {
                job_id,
                waited: timeout,
                last: row.map_or("not picked up yet".into(), |r| r.status.to_string()),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A long-lived handle for publishing jobs and events (API, CLI, the
/// schedule, demo, tests): a publisher on the process's shared broker
/// [`Link`], opened again after the link lost its connection.
pub struct JobClient {
    store: Store,
    debounce: Duration,
    link: Link,
    /// How long a publish may wait for a connection attempt in flight.
    wait: Duration,
    publisher: Mutex<Option<Arc<Connected>>>,
    owns_link: bool,
}

struct Connected {
    broker: Arc<Broker>,
    publisher: Publisher,
}

/// How long the CLI waits for its first connection (one attempt: each node
/// of `AMQP_URL` in turn gets `NODE_CONNECT_TIMEOUT`).
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(60);

impl JobClient {
    /// Connects to the broker (declaring the topology) up front, so a bad
    /// `AMQP_URL` is reported at once.
    pub async fn connect(settings: &Settings, store: Store) -> Result<JobClient, QueueError> {
        let link = Link::new(
            settings,
            Names::new(&settings.queue_prefix),
            "secret-sync client",
        );
        let client = JobClient {
            owns_link: true,
            ..JobClient::on(link, settings, store, FIRST_CONNECT_WAIT)
        };
        client.connection().await?;
        Ok(client)
    }

    /// A client on a shared `link` that waits at most `wait` for a
    /// connection attempt in flight (a request handler: a second or two, so
    /// that a broker outage answers 503 at once); connects on first use.
    pub fn on(link: Link, settings: &Settings, store: Store, wait: Duration) -> JobClient {
        JobClient {
            store,
            debounce: settings.sync_debounce,
            link,
            wait,
            publisher: Mutex::new(None),
            owns_link: false,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Connected (or connects now, within this client's wait).
    pub async fn ready(&self) -> Result<(), QueueError> {
        self.connection().await.map(|_| ())
    }

    /// `host:port` of the RabbitMQ node this client is connected to.
    pub async fn node(&self) -> Option<String> {
        let guard = self.publisher.lock().await;
        guard.as_ref().map(|c| c.broker.node().to_string())
    }

    async fn connection(&self) -> Result<Arc<Connected>, QueueError> {
        let broker = self.link.broker(self.wait).await?;
        let mut guard = self.publisher.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| Arc::ptr_eq(&c.broker, &broker)) {
            return Ok(c.clone());
        }
        // Bounded by the caller's wait as well: a broker that took the
        // connection but does not open channels must not hold a trigger.
        let opened = tokio::time::timeout(self.wait, broker.publisher());
        let publisher = match opened.await {
            Ok(Ok(publisher)) => publisher,
            Ok(Err(e)) => {
                self.link.lost(&broker);
                return Err(e);
            }
            Err(_) => {
                self.link.lost(&broker);
                return Err(QueueError::Unavailable {
                    retry_after: Duration::from_secs(1),
                    cause: "RabbitMQ did not open a channel in time".into(),
                });
            }
        };
        let c = Arc::new(Connected { broker, publisher });
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Runs `op` on the publisher; after a broker failure, once more on a
    /// new connection.
    async fn publish<T, F, Fut>(&self, op: F) -> Result<T, QueueError>
    where
        F: Fn(Arc<Connected>) -> Fut,
        Fut: std::future::Future<Output = Result<T, QueueError>>,
    {
        let c = self.connection().await?;
        match op(c.clone()).await {
            Err(e) if e.is_outage() => {
                tracing::warn!(error = %e, node = %c.broker.node(),
                    "broker connection lost; reconnecting once, to the next node that answers");
                self.link.lost(&c.broker);
                op(self.connection().await?).await
            }
            other => other,
        }
    }

    /// Enqueues a job of `kind` for `sync_id`; returns the id of the job
    /// that will do the work (a queued sync job it folded into, if any).
    pub async fn enqueue(
        &self,
        sync_id: Uuid,
        kind: JobKind,
        trigger: &str,
    ) -> Result<Uuid, QueueError> {
        self.enqueue_as(sync_id, kind, trigger, None).await
    }

    /// As [`JobClient::enqueue`], naming who asked (`actor`, kept on the
    /// job row: an API token's name and id, or `cli`).
    pub async fn enqueue_as(
        &self,
        sync_id: Uuid,
        kind: JobKind,
        trigger: &str,
        actor: Option<String>,
    ) -> Result<Uuid, QueueError> {
        let job = Job {
            actor,
            ..Job::new(sync_id, kind, trigger)
        };
        // The job id is stable, so a publish repeated after a lost
        // connection still runs the job at most once.
        let (store, job_ref, debounce) = (&self.store, &job, self.debounce);
        self.publish(|c| async move { enqueue(&c.publisher, store, job_ref, debounce).await })
            .await
    }

    /// Publishes a secret-change event, as the secrets manager does.
    pub async fn publish_change(&self, event: &SecretChanged) -> Result<(), QueueError> {
        self.publish(|c| async move { c.publisher.publish_event(event).await })
            .await
    }

    /// Waits for the job's final row (see [`wait_for_job`]).
    pub async fn wait(&self, job_id: Uuid, timeout: Duration) -> Result<JobRow, EnqueueError> {
        wait_for_job(&self.store, job_id, timeout).await
    }

    /// Closes the connection if this client opened its own link (a CLI
    /// command, demo or test); a shared link stays open for its owner.
    pub async fn close(self) {
        if self.owns_link {
            self.link.close("done").await;
        }
    }
}
