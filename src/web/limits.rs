//! Per-token rate limits on the API's costly calls: job triggers (each
//! queues work), previews (each spends the connection's Humanitec rate
//! limit), writes, and the dead-letter pages and actions (each reads the
//! dead-letter queue). Over the limit: 429 with the seed's error body and
//! `Retry-After`. Counted per process (each API replica allows the rate).
//! Every refusal counts in `secret_sync_rate_limited_total{limit}`.

use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use super::errors::ApiError;
use crate::config::{Rate, RateLimits};
use crate::http::Metrics;

/// What a call spends.
#[derive(Clone, Copy, Debug)]
pub enum Spend {
    /// A sync, import or remove trigger.
    Trigger,
    /// A preview of the next sync.
    Preview,
    /// A create, update or delete.
    Write,
    /// A look at the dead-letter queue, or a requeue or discard.
    DeadLetters,
}

impl Spend {
    fn what(self) -> &'static str {
        match self {
            Spend::Trigger => "job triggers",
            Spend::Preview => "previews",
            Spend::Write => "writes",
            Spend::DeadLetters => "dead-letter pages and actions",
        }
    }

    /// The metric's `limit` label: the `RATE_LIMIT_*` variable's suffix.
    fn label(self) -> &'static str {
        match self {
            Spend::Trigger => "triggers",
            Spend::Preview => "previews",
            Spend::Write => "writes",
            Spend::DeadLetters => "dead_letters",
        }
    }
}

/// Forget tokens not seen for a while once this many are tracked.
const RETAIN_ABOVE: usize = 10_000;

pub struct RateLimiters {
    triggers: DefaultKeyedRateLimiter<Uuid>,
    previews: DefaultKeyedRateLimiter<Uuid>,
    writes: DefaultKeyedRateLimiter<Uuid>,
    dead_letters: DefaultKeyedRateLimiter<Uuid>,
    /// Counts the refusals by limit.
    metrics: Metrics,
}

fn limiter(rate: Rate) -> DefaultKeyedRateLimiter<Uuid> {
    // Settings refuse zeros; `MIN` keeps this total anyway.
    let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
}

impl RateLimiters {
    pub fn new(limits: &RateLimits, metrics: Metrics) -> RateLimiters {
        RateLimiters {
            triggers: limiter(limits.triggers),
            previews: limiter(limits.previews),
            writes: limiter(limits.writes),
            dead_letters: limiter(limits.dead_letters),
            metrics,
        }
    }

    /// Spends one call of `spend` for `token`, or the 429 to answer.
    pub fn check(&self, spend: Spend, token: Uuid) -> Result<(), ApiError> {
        let limiter = match spend {
            Spend::Trigger => &self.triggers,
            Spend::Preview => &self.previews,
            Spend::Write => &self.writes,
            Spend::DeadLetters => &self.dead_letters,
        };
        if limiter.len() > RETAIN_ABOVE {
            limiter.retain_recent();
        }
        match limiter.check_key(&token) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                self.metrics.record_rate_limited(spend.label());
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                // Whole seconds, at least one (Retry-After has no fractions).
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(ApiError::too_many_requests(format!(
                    "this API token is over its limit of {}; try again in {}s",
                    spend.what(),
                    secs.max(1)
                ))
                .with_retry_after(secs.max(1)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_over_the_limit_is_refused_with_a_wait_per_token() {
        let rate = Rate {
            per_second: 1,
            burst: 3,
        };
        let metrics = Metrics::new();
        let limits = RateLimiters::new(
            &RateLimits {
                triggers: rate,
                previews: rate,
                writes: rate,
                dead_letters: rate,
            },
            metrics.clone(),
        );
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..3 {
            assert!(limits.check(Spend::Trigger, a).is_ok());
        }
        let refused = limits.check(Spend::Trigger, a).err();
        assert_eq!(refused.as_ref().map(|e| e.status.as_u16()), Some(429));
        assert_eq!(refused.and_then(|e| e.retry_after), Some(1));
        // Another token and another kind have their own budgets.
        assert!(limits.check(Spend::Trigger, b).is_ok());
        assert!(limits.check(Spend::Preview, a).is_ok());
        for _ in 0..3 {
            assert!(limits.check(Spend::DeadLetters, a).is_ok());
        }
        assert!(limits.check(Spend::DeadLetters, a).is_err());
        // Each refusal counted under its limit, no token in sight.
        let text = metrics.encode();
        assert!(
            text.contains("secret_sync_rate_limited_total{limit=\"triggers\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("secret_sync_rate_limited_total{limit=\"dead_letters\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains(&a.to_string()), "{text}");
    }
}
