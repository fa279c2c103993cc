//! The rescuer: a job whose message reached `secret-sync.dead` by any route
//! (the broker's delivery limit, or a failure the worker could not record)
//! ends `failed` in its rows, with the reason, instead of staying `pending`
//! or `running` for ever. The dead letters themselves stay for operators.

use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::jobs::Admission;
use crate::queue::Broker;

/// Dead letters looked at per scan.
const SCAN_LIMIT: usize = 1000;

pub async fn rescue_dead_jobs(shared: Shared, shutdown: CancellationToken) {
    let every = shared.settings.worker.rescue_every;
    let mut tick = super::ticker(every, every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = scan(&shared).await {
            tracing::warn!(error = %e, "could not scan the dead-letter queue");
        }
    }
}

async fn scan(shared: &Shared) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let broker = Broker::open(
        &shared.settings.amqp_url,
        shared.names.clone(),
        "secret-sync rescuer",
    )
    .await?;
    let dead = broker.dead_jobs(SCAN_LIMIT).await;
    broker.close("scanned").await;
    for d in dead? {
        // Refused for naming another sync's job: that job's row is not this
        // message's to write. The letter stays for the operator.
        if d.reason == Admission::FOREIGN_JOB_ID {
            continue;
        }
        let state = shared.store.job_state(d.job.id).await?;
        if state.is_some_and(|s| s.status.is_final()) {
            continue;
        }
        let message = format!(
            "Failed: the job was dead-lettered: {}. It is kept in the dead-letter queue; requeue it once the cause is fixed",
            d.reason
        );
        shared.runner.fail(&d.job, &d.envelope, &message).await;
        tracing::warn!(job_id = %d.job.id, sync_id = %d.job.sync_id, reason = %d.reason,
            "dead-lettered job recorded as failed");
    }
    Ok(())
}
