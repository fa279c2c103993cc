//! Prometheus metrics of the worker.

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
        Metrics {
            registry: Arc::new(registry),
            jobs,
            job_seconds,
            in_flight,
            dead_lettered,
            events,
            write_limit,
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

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
