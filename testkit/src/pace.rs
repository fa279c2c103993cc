//! Deliberate pacing, never waiting. A test that waits for something (a
//! row, a message, a state) awaits it: [`crate::eventually`], or a loop's
//! test signal. What is left is time a test spends on purpose: a load
//! generator's rhythm, a sampler's interval, a fault or an outage held for
//! a set time, a client that is slow on purpose. These helpers say so,
//! and are the only place the tests' clock is paused (`grep -rn "sleep("
//! tests/` finds none).

use std::time::Duration;

/// Keeps the present state for `length`, on purpose: an outage held open,
/// a client that stays silent, a moment varied within a run. Nothing
/// after it may depend on something having happened meanwhile; for that,
/// await it with [`crate::eventually`].
pub async fn hold(length: Duration) {
    tokio::time::sleep(length).await;
}

/// A rhythm for a load generator or a sampler: [`Pacer::tick`] returns
/// once per `period` (the first after one period). A caller that is late
/// gets the next tick a period after it asks, never a burst of catch-up
/// ticks.
pub struct Pacer {
    interval: tokio::time::Interval,
}

impl Pacer {
    /// A rhythm of one tick per `period`; `period` must not be zero.
    pub fn every(period: Duration) -> Pacer {
        assert!(!period.is_zero(), "a pacer's period must not be zero");
        let start = tokio::time::Instant::now() + period;
        let mut interval = tokio::time::interval_at(start, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Pacer { interval }
    }

    /// Returns at the next tick.
    pub async fn tick(&mut self) {
        self.interval.tick().await;
    }
}
