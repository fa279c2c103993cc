//! humanitec-sandbox: a stateful fake of Humanitec's values API (both
//! scopes, tokens with roles, `GET /orgs`, `GET /current-user`), with fault
//! switches and a request log, for tests and the demo.
//!
//! Choices where the public sources leave Humanitec's behaviour open
//! (`shared/humanitec/NOTES.md`): an env-scope POST for a key with no app
//! value answers 400; PATCH/PUT/DELETE of an env key without an override
//! answers 404; a missing or unknown token answers 401, a token of another
//! org or a viewer writing answers 403.

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
pub struct Faults {
    /// Added to every API request.
    pub latency_ms: u64,
    /// Consumed first-in first-out, one per API request.
    pub script: Vec<Fault>,
    /// Applied to every API request while `script` is empty.
    pub always: Option<Fault>,
    /// Answer 429 (no Retry-After) to a request that arrives while this
    /// many are already in flight: a rate-limited, shared API.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
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
}

pub(crate) struct Inner {
    pub config: SandboxConfig,
    pub values: Values,
    pub requests: Vec<RequestRecord>,
    pub faults: Faults,
    /// API requests being answered now, and the most seen at once.
    pub in_flight: usize,
    pub peak_in_flight: usize,
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
            config,
            values: Values::default(),
            requests: Vec::new(),
            faults: Faults::default(),
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
        self.lock().faults = faults;
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
