//! humanitec-sandbox: a stateful fake of Humanitec's values API (both
//! scopes, tokens with roles, `GET /orgs`, `GET /orgs/{org}/apps` with each
//! app's environments, `GET /current-user`), with fault
//! switches and a request log, for tests and the demo.
//!
//! Choices where the public sources leave Humanitec's behaviour open
//! (`shared/humanitec/NOTES.md`): an env-scope POST for a key with no app
//! value answers 400; PATCH/PUT/DELETE of an env key without an override
//! answers 404; deleting an app value deletes its env overrides too (an
//! override cannot exist without its base); a missing or unknown token
//! answers 401, a token of another org or a viewer writing answers 403.
//! An env override is a value of its own (its own `secret_version`, its own
//! `is_secret`): writing the app value never touches it.

mod directory;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

pub use state::{StoredValue, Values};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SandboxConfig {
    pub orgs: Vec<OrgSpec>,
    pub tokens: Vec<TokenSpec>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrgSpec {
    pub id: String,
    pub apps: Vec<AppSpec>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppSpec {
    pub id: String,
    pub envs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenSpec {
    pub token: String,
    pub org: String,
    pub role: Role,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Developer,
    Manager,
    Administrator,
}

impl SandboxConfig {
    /// org `demo-org`; app `web` (envs development, staging, production) and
    /// app `api` (env development); an administrator and a viewer token.
    pub fn demo() -> Self {
        SandboxConfig {
            orgs: vec![OrgSpec {
                id: "demo-org".into(),
                apps: vec![
                    AppSpec {
                        id: "web".into(),
                        envs: vec!["development".into(), "staging".into(), "production".into()],
                    },
                    AppSpec {
                        id: "api".into(),
                        envs: vec!["development".into()],
                    },
                ],
            }],
            tokens: vec![
                TokenSpec {
                    token: "sandbox-admin-token".into(),
                    org: "demo-org".into(),
                    role: Role::Administrator,
                },
                TokenSpec {
                    token: "sandbox-viewer-token".into(),
                    org: "demo-org".into(),
                    role: Role::Viewer,
                },
            ],
        }
    }
}

/// One request as the sandbox saw it. Holds no token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    /// Raw path as received (still percent-encoded).
    pub path: String,
    pub body: Option<serde_json::Value>,
    pub status: u16,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
    pub authenticated: bool,
    pub fault: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added to every API request.
    pub latency_ms: u64,
    /// Added to an API request for every request in flight when it
    /// arrives (itself included): a server that slows under load, as real
    /// ones do. 0 keeps the latency constant.
    pub latency_per_in_flight_us: u64,
    /// Consumed first-in first-out, one per API request.
    pub script: Vec<Fault>,
    /// Applied to every API request while `script` is empty.
    pub always: Option<Fault>,
    /// While `script` is empty: each API request gets one of these faults
    /// with probability `ratio` (before `always` is considered).
    pub random: Option<RandomFaults>,
    /// A hard in-flight cap: answer 429 (no Retry-After) to a request that
    /// arrives while this many are already in flight, as a rate-limited,
    /// shared API does.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
}

impl Faults {
    /// How long a request that arrives with `in_flight` requests in flight
    /// (itself included) waits before it is answered.
    pub fn latency(&self, in_flight: usize) -> std::time::Duration {
        std::time::Duration::from_millis(self.latency_ms)
            + std::time::Duration::from_micros(
                self.latency_per_in_flight_us
                    .saturating_mul(in_flight as u64),
            )
    }
}

/// Probabilistic faults, reproducible from `seed` (the same seed gives the
/// same sequence of draws; which request gets which draw still depends on
/// the order requests arrive in).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RandomFaults {
    /// Share of API requests that get a fault, from 0.0 to 1.0.
    pub ratio: f64,
    /// A hit gets one of these, picked uniformly.
    pub faults: Vec<Fault>,
    pub seed: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Drop the connection without any response.
    Reset,
    /// Serve the request normally (a script can then fault a later request).
    Pass,
    /// Answer `status` with an error message quoting the request body, as
    /// validation errors of some APIs do (for secret-hygiene tests).
    Echo { status: u16 },
}

pub(crate) struct Inner {
    /// The configuration, indexed by id.
    pub directory: directory::Directory,
    pub values: Values,
    pub requests: Vec<RequestRecord>,
    pub faults: Faults,
    /// Draws for `faults.random`, reseeded whenever the faults are set.
    pub rng: rand::rngs::StdRng,
    /// API requests being answered now, and the most seen at once.
    pub in_flight: usize,
    pub peak_in_flight: usize,
}

impl Inner {
    pub fn set_faults(&mut self, faults: Faults) {
        use rand::SeedableRng;
        self.rng = rand::rngs::StdRng::seed_from_u64(faults.random.as_ref().map_or(0, |r| r.seed));
        self.faults = faults;
    }

    /// The fault for the next API request, if any.
    pub fn next_fault(&mut self) -> Option<Fault> {
        use rand::RngExt;
        if !self.faults.script.is_empty() {
            return match self.faults.script.remove(0) {
                Fault::Pass => None,
                fault => Some(fault),
            };
        }
        if let Some(random) = &self.faults.random {
            if !random.faults.is_empty() && self.rng.random_bool(random.ratio.clamp(0.0, 1.0)) {
                let pick = self.rng.random_range(0..random.faults.len());
                return Some(random.faults[pick].clone());
            }
        }
        self.faults.always.clone()
    }
}

/// Handle on a running sandbox. Cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Mutex<Inner>>,
    addr: SocketAddr,
    stop: tokio_util::sync::CancellationToken,
}

impl Sandbox {
    /// Binds `addr` (port 0 picks one) and serves on the current runtime.
    pub async fn start(config: SandboxConfig, addr: SocketAddr) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            directory: directory::Directory::new(config),
            values: Values::default(),
            requests: Vec::new(),
            faults: Faults::default(),
            rng: rand::SeedableRng::seed_from_u64(0),
            in_flight: 0,
            peak_in_flight: 0,
        }));
        let stop = tokio_util::sync::CancellationToken::new();
        let router = routes::router(inner.clone());
        let token = stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        Ok(Sandbox { inner, addr, stop })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What a GET of the scope lists, but with secret values (for tests).
    pub fn values(&self, org: &str, app: &str, env: Option<&str>) -> Vec<StoredValue> {
        self.lock().values.list(org, app, env)
    }

    /// Seeds a value directly (no log, no faults).
    #[allow(clippy::too_many_arguments)]
    pub fn put_value(
        &self,
        org: &str,
        app: &str,
        env: Option<&str>,
        key: &str,
        value: &str,
        is_secret: bool,
        description: &str,
    ) {
        self.lock()
            .values
            .upsert(org, app, env, key, value, is_secret, description);
    }

    /// Deletes a value directly, as someone with the Humanitec UI would
    /// (no log, no faults). An app value takes its env overrides with it.
    pub fn delete_value(&self, org: &str, app: &str, env: Option<&str>, key: &str) {
        let _ = self.lock().values.delete(org, app, env, key);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        let mut inner = self.lock();
        inner.requests.clear();
        inner.peak_in_flight = 0;
    }

    /// The most API requests in flight at once since the last clear.
    pub fn peak_in_flight(&self) -> usize {
        self.lock().peak_in_flight
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().set_faults(faults);
    }

    /// Accepts one more token from now on.
    pub fn add_token(&self, token: TokenSpec) {
        self.lock().directory.add_token(token);
    }

    /// Creates one more app in `org` (an existing org, or a new one), as
    /// someone with the Humanitec UI would. An app that exists stays as it is.
    pub fn add_app(&self, org: &str, app: AppSpec) {
        self.lock().directory.add_app(org, app);
    }

    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

/// A poisoned lock only means a handler panicked; the data is still usable.
pub(crate) fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> Inner {
        Inner {
            directory: directory::Directory::new(SandboxConfig::demo()),
            values: Values::default(),
            requests: Vec::new(),
            faults: Faults::default(),
            rng: rand::SeedableRng::seed_from_u64(0),
            in_flight: 0,
            peak_in_flight: 0,
        }
    }

    fn draws(seed: u64) -> Vec<Option<u16>> {
        let mut inner = inner();
        inner.set_faults(Faults {
            random: Some(RandomFaults {
                ratio: 0.3,
                faults: vec![
                    Fault::Status {
                        status: 429,
                        retry_after: None,
                    },
                    Fault::Status {
                        status: 503,
                        retry_after: None,
                    },
                ],
                seed,
            }),
            ..Faults::default()
        });
        (0..2000)
            .map(|_| match inner.next_fault() {
                Some(Fault::Status { status, .. }) => Some(status),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn random_faults_hit_the_ratio_and_repeat_with_the_seed() {
        let a = draws(7);
        let hits = a.iter().flatten().count();
        assert!((500..700).contains(&hits), "{hits} of 2000 at 30%");
        assert!(a.contains(&Some(429)) && a.contains(&Some(503)));
        assert_eq!(a, draws(7), "same seed, same draws");
        assert_ne!(a, draws(8));
    }

    #[test]
    fn faults_json_may_name_only_what_it_sets() {
        let f: Faults = serde_json::from_str(
            r#"{"random": {"ratio": 0.3, "faults": [{"kind": "status", "status": 503}], "seed": 1}}"#,
        )
        .expect("partial faults JSON");
        assert!(f.script.is_empty() && f.always.is_none() && f.latency_ms == 0);
        assert_eq!(f.random.map(|r| r.faults.len()), Some(1));
    }

    #[test]
    fn latency_rises_with_the_requests_in_flight_when_asked_to() {
        let constant = Faults {
            latency_ms: 50,
            ..Faults::default()
        };
        assert_eq!(constant.latency(1), constant.latency(100));
        let loaded = Faults {
            latency_ms: 50,
            latency_per_in_flight_us: 1_000,
            ..Faults::default()
        };
        assert_eq!(loaded.latency(1).as_millis(), 51);
        assert_eq!(loaded.latency(32).as_millis(), 82);
    }

    #[test]
    fn the_script_goes_first() {
        let mut inner = inner();
        inner.set_faults(Faults {
            script: vec![Fault::Reset],
            random: Some(RandomFaults {
                ratio: 0.0,
                faults: vec![Fault::Reset],
                seed: 1,
            }),
            ..Faults::default()
        });
        assert!(matches!(inner.next_fault(), Some(Fault::Reset)));
        inner.set_faults(Faults {
            script: vec![Fault::Pass, Fault::Reset],
            ..Faults::default()
        });
        assert!(inner.next_fault().is_none(), "pass serves the request");
        assert!(matches!(inner.next_fault(), Some(Fault::Reset)));
        assert!((0..100).all(|_| inner.next_fault().is_none()));
    }
}
