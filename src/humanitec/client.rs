use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use super::error::HumanitecError;
use super::limiter::{Limiters, Outcome, WriteLimit};
use super::models::{AppSummary, ErrorBody, OrgSummary, ValueCreatePayload, ValuePatchPayload};
use super::scope::{apps_path, route_template, value_path, values_path};
use super::{RequestObserver, WriteHold};
use crate::model::{Scope, ValueResponse};

/// How often a write refused with a bare 429 goes back to its window's
/// queue before the refusal counts as a failed attempt.
const WINDOW_REQUEUES: u32 = 8;

/// In-process retry policy for one call (the first tier of retries).
#[derive(Clone, Debug)]
pub struct HttpPolicy {
    pub timeout: Duration,
    pub retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Longest Retry-After waited in process; longer ones fail the call so the
    /// job is retried through the broker without holding a worker slot.
    pub retry_after_cap: Duration,
    /// Writes in flight per connection.
    pub write_limit: WriteLimit,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            timeout: Duration::from_secs(30),
            retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            retry_after_cap: Duration::from_secs(30),
            write_limit: WriteLimit {
                cap: 32,
                adaptive: true,
                initial: 4,
            },
        }
    }
}

/// Humanitec's values API. Cheap to clone; one per process.
#[derive(Clone, Debug)]
pub struct HumanitecClient {
    http: reqwest::Client,
    base_url: String,
    policy: HttpPolicy,
    limits: Arc<Limiters>,
    observer: Option<std::sync::Arc<dyn RequestObserver>>,
    /// Asked before each write attempt (a pause, issue 41); none: never held.
    hold: Option<Arc<dyn WriteHold>>,
}

impl HumanitecClient {
    pub fn new(base_url: &str, policy: HttpPolicy) -> Result<Self, HumanitecError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(HumanitecError::BadBaseUrl(
                base_url,
                "it must start with http:// or https://".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("secret-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HumanitecError::BadBaseUrl(base_url.clone(), e.to_string()))?;
        Ok(HumanitecClient {
            http,
            base_url,
            limits: Arc::new(Limiters::new(policy.write_limit)),
            policy,
            observer: None,
            hold: None,
        })
    }

    /// The write limiters of every connection this client writes to (the
    /// fleet loop reports them and shares what the fleet does).
    pub fn write_limiters(&self) -> Arc<Limiters> {
        self.limits.clone()
    }

    /// Reports every attempt and retry to `observer` (metrics).
    pub fn with_observer(mut self, observer: std::sync::Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// This client (same connection pool and write limits) with its writes
    /// held back whenever `hold` says so: one job's view of a pause.
    pub fn with_hold(&self, hold: Arc<dyn WriteHold>) -> Self {
        HumanitecClient {
            hold: Some(hold),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The current write limit of each connection this client has used.
    pub fn write_limits(&self) -> Vec<f64> {
        self.limits.current()
    }

    /// `GET /orgs`: checks that the token is valid.
    pub async fn check_token(&self, token: &SecretString) -> Result<(), HumanitecError> {
        self.call::<serde_json::Value, ()>(token, Method::GET, "/orgs".into(), None, None)
            .await
            .map(|_| ())
    }

    /// `GET /orgs`: the organizations the token can see.
    pub async fn list_orgs(&self, token: &SecretString) -> Result<Vec<OrgSummary>, HumanitecError> {
        self.call::<Vec<OrgSummary>, ()>(token, Method::GET, "/orgs".into(), None, None)
            .await
    }

    /// `GET /orgs/{org}/apps`: an organization's apps, each with its
    /// environments (Humanitec embeds them, so no call per app).
    pub async fn list_apps(
        &self,
        token: &SecretString,
        org: &str,
    ) -> Result<Vec<AppSummary>, HumanitecError> {
        self.call::<Vec<AppSummary>, ()>(token, Method::GET, apps_path(org)?, None, None)
            .await
    }

    /// `GET .../values`: one call, no pagination.
    pub async fn list_values(
        &self,
        token: &SecretString,
        scope: &Scope,
    ) -> Result<Vec<ValueResponse>, HumanitecError> {
        self.call::<Vec<ValueResponse>, ()>(token, Method::GET, values_path(scope)?, None, None)
            .await
    }

    /// `POST .../values`.
    pub async fn create_value(
        &self,
        token: &SecretString,
        scope: &Scope,
        key: &str,
        value: &str,
        description: &str,
        is_secret: bool,
    ) -> Result<ValueResponse, HumanitecError> {
        // The key travels in the body, but a value that no URL can address
        // could never be updated or deleted again.
        value_path(scope, key)?;
        let body = ValueCreatePayload {
            key,
            description,
            value,
            is_secret,
        };
        self.call(
            token,
            Method::POST,
            values_path(scope)?,
            Some(&body),
            Some(value),
        )
        .await
    }

    /// `PATCH .../values/{key}`: new value and description.
    pub async fn update_value(
        &self,
        token: &SecretString,
        scope: &Scope,
        key: &str,
        value: &str,
        description: &str,
    ) -> Result<ValueResponse, HumanitecError> {
        let body = ValuePatchPayload { value, description };
        self.call(
            token,
            Method::PATCH,
            value_path(scope, key)?,
            Some(&body),
            Some(value),
        )
        .await
    }

    /// `DELETE .../values/{key}`.
    pub async fn delete_value(
        &self,
        token: &SecretString,
        scope: &Scope,
        key: &str,
    ) -> Result<(), HumanitecError> {
        self.call::<IgnoredBody, ()>(token, Method::DELETE, value_path(scope, key)?, None, None)
            .await
            .map(|_| ())
    }

    /// One call with the in-process retries of `HttpPolicy`. `value` is the
    /// value the body carries, kept out of the error if Humanitec quotes it.
    async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        token: &SecretString,
        method: Method,
        path: String,
        body: Option<&B>,
        value: Option<&str>,
    ) -> Result<T, HumanitecError> {
        let cap = self.policy.retry_after_cap;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.min_delay)
            .with_max_delay(self.policy.max_delay)
            .with_max_times(self.policy.retries)
            .with_jitter();
        // Writes take a slot of their connection's adaptive limit per attempt
        // (a Retry-After wait holds none).
        let limiter = (method != Method::GET).then(|| self.limits.for_token(token.expose_secret()));
        let attempt = || async {
            let mut requeued = 0;
            loop {
                let permit = match &limiter {
                    Some(l) => Some(l.acquire().await),
                    None => None,
                };
                // A write (it holds a permit) is not sent while a pause holds
                // them; the permit goes back unused.
                if let (Some(_), Some(hold)) = (&permit, &self.hold) {
                    if hold.held() {
                        return Err(HumanitecError::Held {
                            method: method_name(&method),
                            path: path.clone(),
                        });
                    }
                }
                // Time on the wire only: the wait for the permit is not latency.
                let sent = std::time::Instant::now();
                let result = self
                    .send_once(token, method.clone(), &path, body, value)
                    .await;
                if let Some(permit) = permit {
                    permit.done(load_signal(&result), sent.elapsed()).await;
                }
                // A 429 without Retry-After to an adaptive write: the window
                // has cut already, so the write waits for a slot again
                // rather than sleep through the backoff (which made the
                // last keys of a job, and so the job, wait seconds). A
                // token refused this often goes on to the backoff.
                let refused = matches!(&result, Err(e) if e.status() == Some(429) && e.retry_after().is_none());
                if refused
                    && requeued < WINDOW_REQUEUES
                    && limiter.as_ref().is_some_and(|l| l.adaptive())
                {
                    requeued += 1;
                    if let Some(observer) = &self.observer {
                        observer.retry(method_name(&method));
                    }
                    continue;
                }
                return result;
            }
        };
        attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &HumanitecError| {
                e.is_transient() && e.retry_after().is_none_or(|wait| wait <= cap)
            })
            // Retry-After, when the server sends one, replaces the backoff delay.
            .adjust(|e: &HumanitecError, delay| delay.map(|d| e.retry_after().unwrap_or(d)))
            .notify(|e: &HumanitecError, delay| {
                if let Some(observer) = &self.observer {
                    observer.retry(method_name(&method));
                }
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "retrying Humanitec call");
            })
            .await
    }

    async fn send_once<T: DeserializeOwned, B: Serialize>(
        &self,
        token: &SecretString,
        method: Method,
        path: &str,
        body: Option<&B>,
        value: Option<&str>,
    ) -> Result<T, HumanitecError> {
        let started = std::time::Instant::now();
        let name = method_name(&method);
        // For traces (only when exported): the route's template, never the
        // URL (tenant ids, keys) and never the token (a header).
        let traced = tracing::enabled!(kind: tracing::metadata::Kind::SPAN,
            target: crate::telemetry::SPANS, tracing::Level::INFO);
        let span = if traced {
            let template = route_template(path);
            tracing::info_span!(target: crate::telemetry::SPANS, "humanitec request",
                otel.name = %format_args!("{name} {template}"), otel.kind = "client",
                http.request.method = name, url.template = %template,
                http.response.status_code = tracing::field::Empty,
                otel.status_code = tracing::field::Empty)
        } else {
            tracing::Span::none()
        };
        let mut status = None;
        let result = self
            .send_unobserved(token, method, path, body, value, &mut status)
            .instrument(span.clone())
            .await;
        if let Some(status) = status {
            span.record("http.response.status_code", status);
        }
        if result.is_err() {
            span.record("otel.status_code", "error");
        }
        if let Some(observer) = &self.observer {
            observer.request(name, status, started.elapsed().as_secs_f64());
        }
        result
    }

    async fn send_unobserved<T: DeserializeOwned, B: Serialize>(
        &self,
        token: &SecretString,
        method: Method,
        path: &str,
        body: Option<&B>,
        value: Option<&str>,
        status_seen: &mut Option<u16>,
    ) -> Result<T, HumanitecError> {
        let method_name = method_name(&method);
        let url = exact_url(&self.base_url, path)?;
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(token.expose_secret())
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |e: reqwest::Error| HumanitecError::Transport {
            method: method_name,
            path: path.to_string(),
            timeout: e.is_timeout(),
            // reqwest errors carry the URL, which holds no secret; the token is
            // only ever in a header.
            reason: describe_transport(&e, &self.base_url),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        *status_seen = Some(status.as_u16());
        if status.is_success() {
            let bytes = response.bytes().await.map_err(transport)?;
            return parse_success(&bytes, status).map_err(|reason| HumanitecError::Decode {
                method: method_name,
                path: path.to_string(),
                reason: unquoted(reason, value)
                    .unwrap_or_else(|| "the response quoted the value sent; not shown".into()),
            });
        }
        let retry_after = parse_retry_after(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        let parsed: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        // Validation errors may quote the request: never let the value through.
        let (code, message) = parsed
            .map(|b| {
                let message = b.message.map(|m| {
                    unquoted(m, value)
                        .map(|m| truncate(&m, 300))
                        .unwrap_or_else(|| {
                            "Humanitec's message quoted the value sent; not shown".into()
                        })
                });
                (b.error.and_then(|c| unquoted(c, value)), message)
            })
            .unwrap_or((None, None));
        Err(HumanitecError::Status {
            status: status.as_u16(),
            method: method_name,
            path: path.to_string(),
            code,
            message,
            retry_after,
        })
    }
}

/// The URL for `base_url` + `path`, parsed as reqwest will send it, and
/// refused unless its path is exactly the one built: a URL parser that
/// drops or climbs a segment would send the request somewhere else.
fn exact_url(base_url: &str, path: &str) -> Result<reqwest::Url, HumanitecError> {
    let built = format!("{base_url}{path}");
    let url = reqwest::Url::parse(&built)
        .map_err(|e| HumanitecError::BadBaseUrl(base_url.to_string(), e.to_string()))?;
    let base_path = reqwest::Url::parse(base_url)
        .map(|b| b.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    let expected = format!("{base_path}{path}");
    if url.path() != expected || url.query().is_some() || url.fragment().is_some() {
        return Err(HumanitecError::PathChanged {
            built: path.to_string(),
            parsed: url.path().to_string(),
        });
    }
    Ok(url)
}

/// What an attempt says about the server's load: congested (429, 503, a
/// timeout), fine (answered), or nothing (another error status, a broken
/// connection).
fn load_signal<T>(result: &Result<T, HumanitecError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Answered,
        Err(HumanitecError::Status {
            status: 429 | 503, ..
        }) => Outcome::Congested,
        Err(HumanitecError::Transport { timeout: true, .. }) => Outcome::Congested,
        Err(_) => Outcome::Unknown,
    }
}

/// Stands in for "no body expected" (204 deletes).
struct IgnoredBody;

impl<'de> serde::Deserialize<'de> for IgnoredBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| IgnoredBody)
    }
}

fn parse_success<T: DeserializeOwned>(bytes: &[u8], status: StatusCode) -> Result<T, String> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        // 204 and empty bodies decode as JSON null.
        b"null"
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| format!("{status} with a body that is not the documented JSON ({e})"))
}

fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    // Seconds form; the HTTP-date form is rare for APIs and treated as absent.
    raw.parse::<u64>().ok().map(Duration::from_secs)
}

fn describe_transport(e: &reqwest::Error, base_url: &str) -> String {
    // The source chain says "connection refused", "dns error", "invalid
    // peer certificate", "connection reset", "closed before message completed"...
    let mut chain = e.to_string();
    let mut refused = false;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        chain = format!("{chain}: {s}");
        source = s.source();
    }
    let lower = chain.to_ascii_lowercase();
    if e.is_timeout() {
        "the request timed out".into()
    } else if e.is_connect() {
        let cause = if refused {
            "connection refused".to_string()
        } else if lower.contains("dns error") || lower.contains("lookup address") {
            "unknown host".to_string()
        } else if lower.contains("certificate") || lower.contains("tls") {
            format!("TLS failed ({})", truncate(&chain, 200))
        } else {
            truncate(&chain, 200)
        };
        format!(
            "cannot connect to {base_url}: {cause}; check HUMANITEC_API_URL and that this host can reach it"
        )
    } else {
        truncate(&chain, 300)
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "HTTP",
    }
}

/// `text`, unless it quotes `value` (whole, JSON-escaped, or its first 8
/// characters, which catches an echo cut short).
fn unquoted(text: String, value: Option<&str>) -> Option<String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Some(text);
    };
    let escaped = serde_json::to_string(value).unwrap_or_default();
    let escaped = escaped.trim_matches('"');
    let quotes = [value, escaped].iter().any(|v| {
        let head: String = v.chars().take(8).collect();
        text.contains(*v) || (v.chars().count() >= 8 && text.contains(&head))
    });
    (!quotes).then_some(text)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::{exact_url, unquoted};

    #[test]
    fn a_path_the_parser_would_change_is_refused() {
        let ok = exact_url("http://127.0.0.1:9/api", "/orgs/o/apps/a/values/K").expect("same");
        assert_eq!(ok.path(), "/api/orgs/o/apps/a/values/K");
        for changed in [
            "/orgs/o/apps/a/values/..",
            "/orgs/o/apps/a/values/.",
            "/orgs/o/apps/a/values/%2e%2E",
            "/orgs/o/apps/a/values/K?x",
            "/orgs/o/apps/a/values/K#x",
            "/orgs/o/apps/a/values/a\\b",
        ] {
            assert!(
                exact_url("http://127.0.0.1:9", changed).is_err(),
                "{changed} sent as built"
            );
        }
    }

    #[test]
    fn messages_that_quote_the_value_are_dropped() {
        let v = Some("s3cr\"et-value-123");
        let keep = |m: &str| unquoted(m.to_string(), v);
        assert_eq!(
            keep("Key already exists").as_deref(),
            Some("Key already exists")
        );
        assert_eq!(keep("value s3cr\"et-value-123 too long"), None);
        assert_eq!(
            keep(r#"{"value":"s3cr\"et-value-123"}"#),
            None,
            "JSON-escaped"
        );
        assert_eq!(keep("value 's3cr\"et-…' is invalid"), None, "cut short");
        assert_eq!(
            unquoted("API-001".into(), None).as_deref(),
            Some("API-001"),
            "nothing sent"
        );
        assert_eq!(
            unquoted("API-001".into(), Some("1")),
            None,
            "short values too"
        );
    }
}
