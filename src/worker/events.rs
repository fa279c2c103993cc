//! Secret-change events: each enqueues a sync job for every auto-sync
//! enabled sync reading the changed folder.

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};

use super::deliveries::dead_letter;
use super::Shared;
use crate::model::JobType;
use crate::queue::{EventMessage, JobMessage, Publisher};

/// Normalises a folder path: leading slash, no trailing slash, no empty parts.
pub fn normalize_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

pub async fn handle_event_delivery(shared: &Shared, publisher: &Publisher, delivery: Delivery) {
    shared.metrics.events.inc();
    let event: EventMessage = match serde_json::from_slice(&delivery.data) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(reason = %e, "malformed secret-change event; sending it to the dead-letter queue");
            let queue = shared.names.events_queue();
            dead_letter(
                shared,
                publisher,
                &delivery,
                &queue,
                &format!("not a secret-change event: {e}"),
            )
            .await;
            return;
        }
    };
    let path = normalize_path(&event.secret_path);
    let result = async {
        let syncs = shared
            .store
            .syncs_for_folder(&event.project_id, &event.environment, &path)
            .await?;
        for sync in &syncs {
            let job = JobMessage {
                job_id: None,
                sync_id: sync.id,
                job_type: JobType::Sync,
                import_behavior: None,
                delete_sync_on_complete: None,
                trigger: Some("auto-sync".into()),
            };
            let job_id = publisher.publish_job(&job).await?;
            shared
                .store
                .record_enqueued(job_id, sync.id, JobType::Sync, Some("auto-sync"))
                .await?;
            tracing::info!(%job_id, sync_id = %sync.id, project = %event.project_id,
                environment = %event.environment, path, "secret change: sync enqueued");
        }
        Ok::<usize, crate::jobs::JobError>(syncs.len())
    }
    .await;
    let settle = match result {
        Ok(_) => delivery.acker.ack(BasicAckOptions::default()).await,
        Err(e) => {
            // A retry may enqueue some syncs twice; supersession makes that cheap.
            tracing::warn!(error = %e, "could not fan out a secret-change event; requeueing it");
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
        }
    };
    if let Err(e) = settle {
        tracing::warn!(error = %e, "could not settle a secret-change event");
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("a/b/"), "/a/b");
        assert_eq!(normalize_path("//a//b"), "/a/b");
    }
}
