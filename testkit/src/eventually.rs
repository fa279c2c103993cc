//! One way for tests to wait: poll a probe with a short backoff until it
//! yields a value, or panic saying what was awaited and what was last seen.
//! Instead of a sleep and then an assertion, which passes or fails by luck.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::panic::Location;
use std::time::Duration;

/// The first pause between probes; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// What one probe saw: a value (done) or, not yet, what it saw instead.
pub trait Observation {
    type Value;
    fn into_result(self) -> Result<Self::Value, String>;
}

impl<T> Observation for Option<T> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet (None)".to_string())
    }
}

/// `Err` is what was seen instead: a message, or any error (shown).
impl<T, E: Display> Observation for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Polls `probe` until it returns `Some`/`Ok`; panics after `timeout` with
/// the caller's location and the last `Err` (what it saw instead). A probe
/// may itself assert, to fail early on a state that can never turn good.
#[track_caller]
pub fn eventually<P, F, O>(timeout: Duration, probe: P) -> impl Future<Output = O::Value>
where
    P: FnMut() -> F,
    F: Future<Output = O>,
    O: Observation,
{
    let at = Location::caller();
    async move {
        match try_eventually(timeout, probe).await {
            Ok(value) => value,
            Err(last) => panic!("waited {timeout:?} at {at} in vain; last seen: {last}"),
        }
    }
}

/// As [`eventually`], but gives the last observation back instead of
/// panicking, for a caller that has its own answer to "never".
pub async fn try_eventually<P, F, O>(timeout: Duration, mut probe: P) -> Result<O::Value, String>
where
    P: FnMut() -> F,
    F: Future<Output = O>,
    O: Observation,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        let last = match probe().await.into_result() {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(last);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// `Ok(value)` if `ok`, else `Err` with the value shown: for probes that
/// wait until a value they read meets a condition.
pub fn seen<T: Debug>(value: T, ok: impl FnOnce(&T) -> bool) -> Result<T, String> {
    if ok(&value) {
        Ok(value)
    } else {
        Err(format!("{value:?}"))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test]
    async fn gives_the_first_value_a_probe_yields() {
        let probes = Cell::new(0);
        let value = eventually(Duration::from_secs(5), || async {
            probes.set(probes.get() + 1);
            (probes.get() == 3).then_some("ready")
        })
        .await;
        assert_eq!((value, probes.get()), ("ready", 3));
    }

    #[tokio::test]
    async fn says_where_and_what_it_last_saw_when_time_is_up() {
        let waited = tokio::spawn(eventually(Duration::from_millis(300), || async {
            Err::<(), _>("the row is still pending")
        }))
        .await
        .expect_err("panics");
        let panic = waited.into_panic();
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        assert!(
            message.contains("eventually.rs") && message.contains("the row is still pending"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn try_eventually_gives_the_last_observation_back() {
        let last = try_eventually(Duration::from_millis(300), || async { None::<()> }).await;
        assert_eq!(last, Err("nothing yet (None)".to_string()));
    }
}
