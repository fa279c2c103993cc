//! Secret-change events: each enqueues a sync job for every auto-sync
//! enabled sync reading the changed folder (folding into a queued one, see
//! `enqueue`). Events for unknown projects or folders are acknowledged.

use super::deliveries::dead_letter;
use super::Shared;
use crate::engine::enqueue;
use crate::model::{Job, JobKind};
use crate::queue::{Incoming, Publisher};

pub async fn handle_event_delivery(shared: &Shared, publisher: &Publisher, incoming: Incoming) {
    shared.metrics.events.inc();
    let event = match incoming.decode_event() {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(reason = %e, "malformed secret-change event; sending it to the dead-letter queue");
            let queue = shared.names.events_queue();
            dead_letter(shared, publisher, &incoming, &queue, &e.to_string()).await;
            return;
        }
    };
    let result = async {
        let syncs = shared
            .store
            .syncs.syncs_for_folder(&event.project_id, &event.environment, &event.path)
            .await?;
        if syncs.is_empty() {
            tracing::debug!(project = %event.project_id, environment = %event.environment,
                path = %event.path, "secret change for a folder no auto-sync reads");
        }
        for sync in &syncs {
            let job = Job::new(sync.id, JobKind::SYNC, "auto-sync");
            let queued = enqueue(publisher, &shared.store, &job, shared.settings.sync_debounce).await?;
            if queued == job.id {
                tracing::info!(job_id = %job.id, sync_id = %sync.id, project = %event.project_id,
                    environment = %event.environment, path = %event.path, "secret change: sync enqueued");
            } else {
                tracing::debug!(job_id = %queued, sync_id = %sync.id, "secret change: folded into the queued sync job");
            }
        }
        // Either the database or the broker: both only logged, then retried.
        Ok::<usize, Box<dyn std::error::Error + Send + Sync>>(syncs.len())
    }
    .await;
    let settle = match result {
        Ok(_) => incoming.ack().await,
        Err(e) => {
            // A retry may enqueue some syncs twice; supersession makes that cheap.
            tracing::warn!(error = %e, "could not fan out a secret-change event; requeueing it");
            incoming.requeue().await
        }
    };
    if let Err(e) = settle {
        tracing::warn!(error = %e, "could not settle a secret-change event");
    }
}
