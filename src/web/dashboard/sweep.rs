//! The API's periodic sweep of expired dashboard sessions (lookups already
//! refuse them; the sweep only keeps the table small) and of audit entries
//! past `AUDIT_RETENTION`. Each round deletes a few small batches, so it
//! never holds many row locks or runs long.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::web::state::ApiState;

/// Rows per statement, and statements per round: at most 10,000 a minute.
const BATCH: i64 = 500;
const BATCHES_PER_ROUND: usize = 20;
const EVERY: Duration = Duration::from_secs(60);

/// Runs until `shutdown`.
pub async fn sweep_expired_sessions(state: ApiState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let idle = state.dashboard.session.idle_timeout;
        let retention = state.dashboard.audit_retention;
        in_batches("expired dashboard sessions", || {
            state.store.delete_expired_sessions(idle, BATCH)
        })
        .await;
        in_batches("old audit entries", || {
            state.store.delete_old_audit(retention, BATCH)
        })
        .await;
        // Delivery attempts and delivered notifications: kept as long as
        // the audit log, for the channels' pages.
        in_batches("old notification deliveries", || {
            state.store.delete_old_deliveries(retention, BATCH)
        })
        .await;
    }
}

/// Runs `delete` until it deletes less than a batch (at most a round's worth).
async fn in_batches<F, Fut>(what: &str, delete: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<u64, crate::store::StoreError>>,
{
    for _ in 0..BATCHES_PER_ROUND {
        match delete().await {
            Ok(n) if n < BATCH as u64 => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not delete {what}");
                break;
            }
        }
    }
}
