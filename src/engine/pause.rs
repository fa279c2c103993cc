//! Pauses as a worker sees them (issue 41). `PauseWatch` is the process's
//! view of the pauses in force, kept current by the pause listener
//! (`maintenance::pauses`, `LISTEN secret_sync_pauses`); `RunHold` is one
//! run's: asked by the Humanitec client before every write attempt (an
//! in-memory look, no statement), it holds the write back when the watch
//! says the sync's connection or the instance is paused, or when the
//! run's own heartbeat or fence saw a pause (the fallback where `LISTEN`
//! does not hold, behind a pooler in transaction mode).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::humanitec::WriteHold;
use crate::model::{Job, JobEnvelope};
use crate::queue::{Publisher, QueueError};
use crate::store::{PauseRow, ReleasedJob};

/// The pauses in force, as this process last heard of them. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct PauseWatch {
    held: Arc<RwLock<Held>>,
}

#[derive(Debug, Default)]
struct Held {
    instance: bool,
    connections: HashSet<Uuid>,
}

impl PauseWatch {
    /// Whether writes through `connection_id` are held now.
    pub fn holds(&self, connection_id: Uuid) -> bool {
        // A poisoned lock only means a writer panicked; the set stands.
        let held = self.held.read().unwrap_or_else(|p| p.into_inner());
        held.instance || held.connections.contains(&connection_id)
    }

    /// Replaces the view with `pauses` (all of the active ones).
    pub fn set(&self, pauses: &[PauseRow]) {
        let mut held = self.held.write().unwrap_or_else(|p| p.into_inner());
        held.instance = pauses.iter().any(|p| p.connection_id.is_none());
        held.connections = pauses.iter().filter_map(|p| p.connection_id).collect();
    }
}

/// One run's hold on its writes (see the module's comment).
#[derive(Debug)]
pub(super) struct RunHold {
    watch: PauseWatch,
    connection_id: Uuid,
    /// The run's heartbeat or fence read a pause of its sync.
    seen: AtomicBool,
}

impl RunHold {
    pub(super) fn new(watch: PauseWatch, connection_id: Uuid) -> Arc<RunHold> {
        Arc::new(RunHold {
            watch,
            connection_id,
            seen: AtomicBool::new(false),
        })
    }

    /// The run's own read of the database found its sync paused.
    pub(super) fn saw_pause(&self) {
        self.seen.store(true, Ordering::Relaxed);
    }
}

impl WriteHold for RunHold {
    fn held(&self) -> bool {
        self.seen.load(Ordering::Relaxed) || self.watch.holds(self.connection_id)
    }
}

/// Publishes a job a resume released, as it was queued: its id, kind,
/// attempt and enqueue time (so a sync job's supersession and a retry's
/// attempt count read as before the pause). A kind this version does not
/// know is left for the orphans loop (it fails it, saying so).
pub async fn publish_released(publisher: &Publisher, job: &ReleasedJob) -> Result<(), QueueError> {
    let Some(kind) = job.kind else {
        tracing::warn!(job_id = %job.id, "a released job's kind is unknown to this version; left to the orphans loop");
        return Ok(());
    };
    let envelope = JobEnvelope {
        attempt: u32::try_from(job.attempt).unwrap_or(1).max(1),
        ..JobEnvelope::first(job.enqueued_at)
    };
    let message = Job {
        id: job.id,
        sync_id: job.sync_id,
        kind,
        trigger: job.trigger.clone(),
        actor: job.actor.clone(),
    };
    publisher.publish_job(&message, envelope, None).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn pause(connection_id: Option<Uuid>) -> PauseRow {
        PauseRow {
            id: Uuid::new_v4(),
            connection_id,
            project_id: connection_id.map(|_| "p".to_string()),
            connection_name: None,
            reason: "incident".into(),
            paused_by: "ops".into(),
            paused_at: Utc::now(),
        }
    }

    #[test]
    fn a_hold_follows_its_connection_the_instance_and_what_its_run_saw() {
        let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
        let watch = PauseWatch::default();
        let hold = RunHold::new(watch.clone(), mine);
        assert!(!hold.held());
        watch.set(&[pause(Some(other))]);
        assert!(!hold.held(), "another connection's pause");
        watch.set(&[pause(Some(other)), pause(Some(mine))]);
        assert!(hold.held());
        watch.set(&[pause(None)]);
        assert!(hold.held(), "the instance's pause holds every connection");
        watch.set(&[]);
        assert!(!hold.held(), "resumed");
        hold.saw_pause();
        assert!(
            hold.held(),
            "the run's own read stands, whatever the watch says"
        );
    }
}
