//! Runtime metrics (README, "Metrics"; named after controller-runtime's): reconcile outcomes and
//! durations, and the work queues' depth, adds, retries and waiting time, all by `reconciler`.

use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// How one reconcile ended: the `result` label of `shepard_reconcile_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    /// Finished; nothing scheduled.
    Success,
    /// Finished and asked to run again after a delay.
    RequeueAfter,
    /// Failed; retried with the key's backoff.
    Error,
}

impl ReconcileResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::RequeueAfter => "requeue_after",
            ReconcileResult::Error => "error",
        }
    }
}

/// Handles to the runtime metrics of every reconciler; clones share the series.
#[derive(Clone)]
pub struct RuntimeMetrics {
    reconciles: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    depth: IntGaugeVec,
    adds: IntCounterVec,
    retries: IntCounterVec,
    queue_duration: HistogramVec,
}

/// Reconciles are local decisions plus a few HTTP calls: milliseconds to seconds. Time in the
/// queue also covers waiting behind a busy key.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl RuntimeMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let reconciles = IntCounterVec::new(
            Opts::new(
                "shepard_reconcile_total",
                "Reconciles run, by reconciler and result (success, requeue_after, error).",
            ),
            &["reconciler", "result"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "shepard_reconcile_errors_total",
                "Reconciles that failed and were retried with backoff.",
            ),
            &["reconciler"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "shepard_reconcile_duration_seconds",
                "Time taken by one reconcile, applying its actions included.",
            )
            .buckets(BUCKETS.to_vec()),
            &["reconciler"],
        )?;
        let depth = IntGaugeVec::new(
            Opts::new(
                "shepard_workqueue_depth",
                "Keys waiting in a reconciler's work queue.",
            ),
            &["reconciler"],
        )?;
        let adds = IntCounterVec::new(
            Opts::new(
                "shepard_workqueue_adds_total",
                "Keys added to a reconciler's work queue (duplicates included).",
            ),
            &["reconciler"],
        )?;
        let retries = IntCounterVec::new(
            Opts::new(
                "shepard_workqueue_retries_total",
                "Keys re-added with backoff after a failed reconcile.",
            ),
            &["reconciler"],
        )?;
        let queue_duration = HistogramVec::new(
            HistogramOpts::new(
                "shepard_workqueue_queue_duration_seconds",
                "Time a key waited in the queue between becoming ready and being reconciled.",
            )
            .buckets(BUCKETS.to_vec()),
            &["reconciler"],
        )?;
        for collector in [&reconciles, &errors, &adds, &retries] {
            registry.register(Box::new(collector.clone()))?;
        }
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(depth.clone()))?;
        registry.register(Box::new(queue_duration.clone()))?;
        Ok(Self {
            reconciles,
            errors,
            duration,
            depth,
            adds,
            retries,
            queue_duration,
        })
    }

    /// Metrics registered in a private registry, for tests.
    pub fn unregistered() -> Self {
        // Fresh collectors in a new registry cannot collide.
        Self::register(&Registry::new()).unwrap_or_else(|e| panic!("metric definitions: {e}"))
    }

    /// The queue metrics of one reconciler.
    pub fn queue(&self, reconciler: &str) -> QueueMetrics {
        QueueMetrics {
            depth: self.depth.with_label_values(&[reconciler]),
            adds: self.adds.with_label_values(&[reconciler]),
            retries: self.retries.with_label_values(&[reconciler]),
            queue_duration: self.queue_duration.with_label_values(&[reconciler]),
        }
    }

    /// Records one finished reconcile.
    pub fn observe_reconcile(&self, reconciler: &str, result: ReconcileResult, took: Duration) {
        self.reconciles
            .with_label_values(&[reconciler, result.as_str()])
            .inc();
        if result == ReconcileResult::Error {
            self.errors.with_label_values(&[reconciler]).inc();
        }
        self.duration
            .with_label_values(&[reconciler])
            .observe(took.as_secs_f64());
    }

    /// Value of `shepard_reconcile_total{reconciler,result}`, for tests.
    pub fn reconciles(&self, reconciler: &str, result: ReconcileResult) -> u64 {
        self.reconciles
            .with_label_values(&[reconciler, result.as_str()])
            .get()
    }
}

/// The series of one reconciler's queue.
#[derive(Clone)]
pub struct QueueMetrics {
    pub depth: IntGauge,
    pub adds: IntCounter,
    pub retries: IntCounter,
    pub queue_duration: Histogram,
}

impl QueueMetrics {
    /// Series in a private registry, for tests.
    pub fn unregistered(reconciler: &str) -> Self {
        RuntimeMetrics::unregistered().queue(reconciler)
    }
}
