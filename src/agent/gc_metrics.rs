//! Metrics of the GC passes (README, "Metrics"): how long a pass takes, when the last one finished,
//! how many keys under the prefix match no entry of the layout, and whether this agent holds
//! the GC lock. Deleted keys are counted by the applier (`shepard_gc_deleted_keys_total`).

use prometheus::{Gauge, Histogram, HistogramOpts, IntGauge, Registry};

/// A pass lists every key under the prefix: milliseconds, or seconds with many deletes.
const PASS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Handles to the GC metrics; clones share the series.
#[derive(Clone)]
pub struct GcMetrics {
    pass_duration: Histogram,
    last_pass: Gauge,
    unparseable: IntGauge,
    leader: IntGauge,
}

impl GcMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let pass_duration = Histogram::with_opts(
            HistogramOpts::new(
                "shepard_gc_pass_duration_seconds",
                "Duration of a garbage-collection pass, deletes included.",
            )
            .buckets(PASS_BUCKETS.to_vec()),
        )?;
        let last_pass = Gauge::new(
            "shepard_gc_last_pass_timestamp_seconds",
            "Unix time at which the last garbage-collection pass finished.",
        )?;
        let unparseable = IntGauge::new(
            "shepard_gc_unparseable_keys",
            "Keys under the prefix that match no entry of the key layout (left alone), as of \
             the last pass.",
        )?;
        let leader = IntGauge::new(
            "shepard_gc_leader",
            "1 while this agent holds the GC lock and collects the cluster-wide keys.",
        )?;
        registry.register(Box::new(pass_duration.clone()))?;
        registry.register(Box::new(last_pass.clone()))?;
        registry.register(Box::new(unparseable.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        Ok(Self {
            pass_duration,
            last_pass,
            unparseable,
            leader,
        })
    }

    /// Metrics in a private registry, for tests.
    pub fn unregistered() -> Self {
        // Fresh collectors in a new registry cannot collide.
        Self::register(&Registry::new()).unwrap_or_else(|e| panic!("metric definitions: {e}"))
    }

    /// Records a finished pass: its duration and the Unix time it finished at.
    pub fn pass_finished(&self, seconds: f64, finished_at_unix: f64) {
        self.pass_duration.observe(seconds);
        self.last_pass.set(finished_at_unix);
    }

    pub fn set_unparseable(&self, count: usize) {
        self.unparseable
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Passes recorded so far, for tests.
    pub fn passes(&self) -> u64 {
        self.pass_duration.get_sample_count()
    }

    /// The value of `shepard_gc_unparseable_keys`, for tests.
    pub fn unparseable(&self) -> i64 {
        self.unparseable.get()
    }
}
