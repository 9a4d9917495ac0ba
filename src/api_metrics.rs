//! Request metrics shared by the Consul and Nomad clients (README, "Metrics": clients): one place
//! that owns their names, labels and buckets.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

/// Which remote API a request went to: the `api` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Consul,
    Nomad,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Consul => "consul",
            Api::Nomad => "nomad",
        }
    }
}

/// Handles to the client metrics; cheap to clone, all clones update the same series.
#[derive(Clone)]
pub struct ApiMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    index_resets: IntCounterVec,
    session_renew_failures: IntCounter,
}

/// Request latency buckets: from a local agent's sub-millisecond answers to a blocking query
/// held for Nomad's maximum of 300 s.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
];

impl ApiMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "shepard_api_requests_total",
                "HTTP requests to the Consul and Nomad APIs, by operation and response code \
                 (\"error\" when no response arrived).",
            ),
            &["api", "op", "code"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "shepard_api_request_duration_seconds",
                "Duration of HTTP requests to the Consul and Nomad APIs, blocking queries included.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["api", "op"],
        )?;
        let index_resets = IntCounterVec::new(
            Opts::new(
                "shepard_watch_index_resets_total",
                "Blocking-query watches whose index went backwards and restarted from 0.",
            ),
            &["api", "source"],
        )?;
        let session_renew_failures = IntCounter::new(
            "shepard_session_renew_failures_total",
            "Consul session renewals that failed.",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(index_resets.clone()))?;
        registry.register(Box::new(session_renew_failures.clone()))?;
        Ok(Self {
            requests,
            duration,
            index_resets,
            session_renew_failures,
        })
    }

    /// Metrics registered in a private registry: for tests and tools that export nothing.
    pub fn unregistered() -> Self {
        // Registering fresh collectors in a new registry cannot collide.
        Self::register(&Registry::new()).unwrap_or_else(|e| panic!("metric definitions: {e}"))
    }

    /// Records one finished request. `code` is the HTTP status, or `None` when the request
    /// failed before a response arrived.
    pub fn observe_request(&self, api: Api, op: &str, code: Option<u16>, elapsed: Duration) {
        let code = code.map_or_else(|| "error".to_string(), |c| c.to_string());
        self.requests
            .with_label_values(&[api.as_str(), op, code.as_str()])
            .inc();
        self.duration
            .with_label_values(&[api.as_str(), op])
            .observe(elapsed.as_secs_f64());
    }

    /// Records that the watch named `source` saw its index go backwards and reset to 0.
    pub fn index_reset(&self, api: Api, source: &str) {
        self.index_resets
            .with_label_values(&[api.as_str(), source])
            .inc();
    }

    pub fn session_renew_failed(&self) {
        self.session_renew_failures.inc();
    }

    /// Value of `shepard_watch_index_resets_total{api,source}`, for tests.
    pub fn index_resets(&self, api: Api, source: &str) -> u64 {
        self.index_resets
            .with_label_values(&[api.as_str(), source])
            .get()
    }

    /// Value of `shepard_session_renew_failures_total`, for tests.
    pub fn session_renew_failures(&self) -> u64 {
        self.session_renew_failures.get()
    }
}
