//! Prometheus metrics of the worker and the API (one registry per process).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub r#type: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// HTTP status, or `error` when no response came.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabel {
    /// `instance` or `connection` (a pause's scope, issue 41).
    pub scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    /// `jobs`, `events`, `delay` (the wait ladder's queues together) or `dead`.
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabel {
    /// `host:port` of a RabbitMQ node of `AMQP_URL`.
    pub node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route's template (`/api/v1/secret-syncs/humanitec/{syncId}`),
    /// never the path a caller sent; `unmatched` for no route.
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabel {
    /// Which per-token limit refused: `triggers`, `previews`, `writes` or
    /// `dead_letters` (its `RATE_LIMIT_*` variable). Never the token.
    pub limit: &'static str,
}

/// No labels: the one series of a family that only some processes fill
/// in (a plain gauge would show a misleading 0 in the others).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct NoLabels;

impl EncodeLabelSet for NoLabels {
    fn encode(
        &self,
        _: &mut prometheus_client::encoding::LabelSetEncoder,
    ) -> Result<(), std::fmt::Error> {
        Ok(())
    }
}

/// Cheap to clone; all handles share one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub jobs: Family<JobLabels, Counter>,
    pub job_seconds: Family<TypeLabel, Histogram>,
    pub in_flight: Gauge,
    pub dead_lettered: Counter,
    pub events: Counter,
    /// The adaptive Humanitec write limits: lowest and highest connection.
    pub write_limit: Family<StatLabel, Gauge<f64, AtomicU64>>,
    pub humanitec_requests: Family<RequestLabels, Counter>,
    pub humanitec_seconds: Family<MethodLabel, Histogram>,
    pub humanitec_retries: Family<MethodLabel, Counter>,
    /// Syncs by `sync_status` (`never` when none ran), refreshed from Postgres.
    pub syncs: Family<StatusLabel, Gauge>,
    /// Age of the oldest `pending` job row (0 when none), refreshed from Postgres.
    pub oldest_pending_seconds: Gauge<f64, AtomicU64>,
    /// Ready messages per queue, refreshed from the broker.
    pub queue_messages: Family<QueueLabel, Gauge>,
    /// Unix time the oldest active pause of each scope began (0: none).
    pub pause_started: Family<ScopeLabel, Gauge<f64, AtomicU64>>,
    /// `PAUSE_ALERT_AFTER` in seconds, for the alert rule to compare with.
    pub pause_alert_after: Gauge<f64, AtomicU64>,
    /// 1 for the RabbitMQ node this process is connected to, 0 for nodes
    /// it was connected to before.
    pub broker_node: Family<NodeLabel, Gauge>,
    /// That node (`None` while not connected).
    current_node: Arc<std::sync::Mutex<Option<String>>>,
    /// HTTP requests served (the API), by route template and status.
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_seconds: Family<RouteLabels, Histogram>,
    /// Requests the API refused with 429, by which per-token limit.
    pub rate_limited: Family<LimitLabel, Counter>,
    /// The API's live dashboard sessions, all replicas together (counted
    /// in Postgres at scrape time; absent from the worker's metrics).
    pub dashboard_sessions: Family<NoLabels, Gauge>,
    process_cpu_seconds: Gauge<f64, AtomicU64>,
    process_resident_bytes: Gauge,
    process_open_fds: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatLabel {
    pub stat: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("secret_sync");
        let jobs = Family::<JobLabels, Counter>::default();
        let job_seconds = Family::<TypeLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
        });
        let in_flight = Gauge::default();
        let dead_lettered = Counter::default();
        let events = Counter::default();
        registry.register(
            "jobs",
            "Job deliveries handled, by type and outcome",
            jobs.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Time to handle a job delivery",
            job_seconds.clone(),
        );
        registry.register(
            "jobs_in_flight",
            "Jobs being handled right now",
            in_flight.clone(),
        );
        registry.register(
            "dead_lettered",
            "Messages sent to the dead-letter queue",
            dead_lettered.clone(),
        );
        registry.register("events", "Secret-change events handled", events.clone());
        let write_limit = Family::<StatLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "humanitec_write_limit",
            "Humanitec writes allowed in flight per connection (adaptive): min and max over connections",
            write_limit.clone(),
        );
        let humanitec_requests = Family::<RequestLabels, Counter>::default();
        let humanitec_seconds = Family::<MethodLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        let humanitec_retries = Family::<MethodLabel, Counter>::default();
        let syncs = Family::<StatusLabel, Gauge>::default();
        let oldest_pending_seconds = Gauge::<f64, AtomicU64>::default();
        let queue_messages = Family::<QueueLabel, Gauge>::default();
        registry.register(
            "humanitec_requests",
            "Humanitec API requests (each attempt), by method and HTTP status (`error`: no response)",
            humanitec_requests.clone(),
        );
        registry.register(
            "humanitec_request_duration_seconds",
            "Humanitec API request latency, by method",
            humanitec_seconds.clone(),
        );
        registry.register(
            "humanitec_retries",
            "Humanitec requests retried in process, by method",
            humanitec_retries.clone(),
        );
        registry.register(
            "syncs",
            "Secret syncs by the status of their latest sync job (refreshed from Postgres)",
            syncs.clone(),
        );
        registry.register(
            "oldest_pending_job_age_seconds",
            "Age of the oldest job still pending (0 when none; refreshed from Postgres)",
            oldest_pending_seconds.clone(),
        );
        registry.register(
            "queue_messages",
            "Messages ready in the jobs, events, delay and dead queues (refreshed from RabbitMQ)",
            queue_messages.clone(),
        );
        let broker_node = Family::<NodeLabel, Gauge>::default();
        registry.register(
            "broker_node",
            "1 for the RabbitMQ node (host:port of AMQP_URL) this process is connected to",
            broker_node.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "1, labelled with the version of the running build",
            build_info.clone(),
        );
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by method and route template",
            http_seconds.clone(),
        );
        let rate_limited = Family::<LimitLabel, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429 by the API's per-token rate limits, by limit",
            rate_limited.clone(),
        );
        let dashboard_sessions = Family::<NoLabels, Gauge>::default();
        registry.register(
            "dashboard_sessions",
            "Live dashboard sessions of every API replica together (counted in Postgres at scrape time)",
            dashboard_sessions.clone(),
        );
        let pause_started = Family::<ScopeLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "pause_started_seconds",
            "Unix time the oldest active pause of Humanitec writes of each scope began (0: none)",
            pause_started.clone(),
        );
        for scope in ["instance", "connection"] {
            pause_started.get_or_create(&ScopeLabel { scope }).set(0.0);
        }
        let pause_alert_after = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "pause_alert_after_seconds",
            "PAUSE_ALERT_AFTER: how long a pause may last before the SecretSyncPausedTooLong alert fires",
            pause_alert_after.clone(),
        );
        let process_cpu_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "process_cpu_seconds",
            "CPU time (user and system) this process has used, in seconds",
            process_cpu_seconds.clone(),
        );
        let process_resident_bytes = Gauge::default();
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of this process",
            process_resident_bytes.clone(),
        );
        let process_open_fds = Gauge::default();
        registry.register(
            "process_open_fds",
            "File descriptors this process holds open",
            process_open_fds.clone(),
        );
        Metrics {
            http_requests,
            http_seconds,
            rate_limited,
            dashboard_sessions,
            pause_started,
            pause_alert_after,
            process_cpu_seconds,
            process_resident_bytes,
            process_open_fds,
            broker_node,
            current_node: Default::default(),
            registry: Arc::new(registry),
            jobs,
            job_seconds,
            in_flight,
            dead_lettered,
            events,
            write_limit,
            humanitec_requests,
            humanitec_seconds,
            humanitec_retries,
            syncs,
            oldest_pending_seconds,
            queue_messages,
        }
    }

    /// The RabbitMQ node this process is on now (`None`: not connected).
    pub fn set_broker_node(&self, node: Option<&str>) {
        let mut current = match self.current_node.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(old) = current.take() {
            self.broker_node
                .get_or_create(&NodeLabel { node: old })
                .set(0);
        }
        if let Some(node) = node {
            self.broker_node
                .get_or_create(&NodeLabel {
                    node: node.to_string(),
                })
                .set(1);
            *current = Some(node.to_string());
        }
    }

    /// The RabbitMQ node this process is on (`None`: not connected).
    pub fn broker_node(&self) -> Option<String> {
        match self.current_node.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn record_job(&self, job_type: &str, outcome: &str, seconds: f64) {
        self.jobs
            .get_or_create(&JobLabels {
                r#type: job_type.to_string(),
                status: outcome.to_string(),
            })
            .inc();
        self.job_seconds
            .get_or_create(&TypeLabel {
                r#type: job_type.to_string(),
            })
            .observe(seconds);
    }

    /// Publishes the current write limits of the connections in use.
    pub fn set_write_limits(&self, limits: &[f64]) {
        let fold = |f: fn(f64, f64) -> f64| limits.iter().copied().reduce(f);
        if let (Some(min), Some(max)) = (fold(f64::min), fold(f64::max)) {
            self.write_limit
                .get_or_create(&StatLabel { stat: "min" })
                .set(min);
            self.write_limit
                .get_or_create(&StatLabel { stat: "max" })
                .set(max);
        }
    }

    /// Sets the pause gauges from the active pauses (`(is the instance's,
    /// began at)`): each scope's oldest, 0 for a scope without one.
    pub fn set_pauses(&self, pauses: &[(bool, chrono::DateTime<chrono::Utc>)]) {
        for (scope, instance) in [("instance", true), ("connection", false)] {
            let oldest = pauses
                .iter()
                .filter(|(i, _)| *i == instance)
                .map(|(_, at)| at.timestamp_millis() as f64 / 1000.0)
                .reduce(f64::min)
                .unwrap_or(0.0);
            self.pause_started
                .get_or_create(&ScopeLabel { scope })
                .set(oldest);
        }
    }

    /// Sets the sync gauges; statuses not in `counts` go to 0.
    pub fn set_sync_counts(&self, counts: &[(String, i64)]) {
        for status in ["never", "pending", "running", "succeeded", "failed"] {
            let n = counts
                .iter()
                .filter(|(s, _)| s == status)
                .map(|(_, n)| *n)
                .sum();
            self.syncs
                .get_or_create(&StatusLabel {
                    status: status.to_string(),
                })
                .set(n);
        }
    }

    pub fn set_queue_depth(&self, queue: &str, messages: i64) {
        self.queue_messages
            .get_or_create(&QueueLabel {
                queue: queue.to_string(),
            })
            .set(messages);
    }

    /// One HTTP request answered.
    pub fn record_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.http_seconds
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// One request refused by the per-token limit `limit`.
    pub fn record_rate_limited(&self, limit: &'static str) {
        self.rate_limited.get_or_create(&LimitLabel { limit }).inc();
    }

    /// The live dashboard sessions of the whole deployment.
    pub fn set_dashboard_sessions(&self, sessions: i64) {
        self.dashboard_sessions
            .get_or_create(&NoLabels)
            .set(sessions);
    }

    /// The text exposition format, with the process figures read now.
    pub fn encode(&self) -> String {
        let figures = super::process::read();
        if let Some(cpu) = figures.cpu_seconds {
            self.process_cpu_seconds.set(cpu);
        }
        if let Some(bytes) = figures.resident_bytes {
            self.process_resident_bytes.set(bytes);
        }
        if let Some(fds) = figures.open_fds {
            self.process_open_fds.set(fds);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl crate::humanitec::RequestObserver for Metrics {
    fn request(&self, method: &'static str, status: Option<u16>, seconds: f64) {
        self.humanitec_requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                status: status.map_or_else(|| "error".to_string(), |s| s.to_string()),
            })
            .inc();
        self.humanitec_seconds
            .get_or_create(&MethodLabel {
                method: method.to_string(),
            })
            .observe(seconds);
    }

    fn retry(&self, method: &'static str) {
        self.humanitec_retries
            .get_or_create(&MethodLabel {
                method: method.to_string(),
            })
            .inc();
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}
