//! Reconcile on a schedule: every auto-synced sync is re-run every
//! `SYNC_RECONCILE_INTERVAL` even when nothing announces a change, so a
//! value edited by hand in Humanitec is repaired; a no-op run costs the one
//! Humanitec listing it always costs. Each sync has its own phase of the
//! interval (store::schedule), so the runs spread out; a failed sync is
//! retried four times less often until it recovers. Jobs go through the one
//! enqueue path (trigger `schedule`) and fold into any already queued.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::enqueue::JobClient;
use crate::model::JobKind;

/// How often due syncs are looked for, and new syncs given a slot.
const TICK: Duration = Duration::from_secs(1);
const DISCOVER_EVERY: u32 = 15;
/// Syncs enqueued per tick at most (the rest wait for the next tick).
const BATCH: i64 = 500;
const FAILED_SLOWER: u32 = 4;

pub async fn reconcile_on_schedule(shared: Shared, shutdown: CancellationToken) {
    let every = shared.settings.sync_reconcile_interval;
    if every.is_zero() {
        return;
    }
    let failed_every = every * FAILED_SLOWER;
    let mut client: Option<JobClient> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut round = 0u32;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if round.is_multiple_of(DISCOVER_EVERY) {
            if let Err(e) = shared.store.schedule_new_syncs(every).await {
                tracing::warn!(error = %e, "could not schedule new syncs for reconciling");
            }
        }
        round = round.wrapping_add(1);
        let due = match shared
            .store
            .take_due_syncs(every, failed_every, BATCH)
            .await
        {
            Ok(due) => due.due,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the syncs due for a reconcile");
                continue;
            }
        };
        if due.is_empty() {
            continue;
        }
        if client.is_none() {
            match JobClient::connect(&shared.settings, shared.store.clone()).await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    // Their slots moved on: they run at the next one.
                    tracing::warn!(error = %e, skipped = due.len(),
                        "could not reach the broker for scheduled reconciles");
                    continue;
                }
            }
        }
        let Some(jobs) = &client else { continue };
        for sync_id in due {
            if let Err(e) = jobs.enqueue(sync_id, JobKind::SYNC, "schedule").await {
                tracing::warn!(%sync_id, error = %e, "could not enqueue a scheduled reconcile");
            }
        }
    }
    if let Some(c) = client {
        c.close().await;
    }
}
