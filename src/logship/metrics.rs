//! The log-shipping metrics listed in the README: lines, bytes and errors per sink, the lag (age of
//! the oldest line not yet acknowledged, computed when scraped), bytes lost to rotation, and
//! the files being tailed.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

type OldestSource = Arc<dyn Fn() -> Option<(SystemTime, SystemTime)> + Send + Sync>;

/// Handles to the log-shipping metrics; cheap to clone, all clones update the same series.
#[derive(Clone)]
pub struct LogMetrics {
    lines_shipped: IntCounterVec,
    bytes_shipped: IntCounterVec,
    ship_errors: IntCounterVec,
    lag: LagGauge,
    lost_bytes: IntCounter,
    tailed_files: IntGauge,
}

impl LogMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let lines_shipped = IntCounterVec::new(
            Opts::new(
                "shepard_log_lines_shipped_total",
                "Task log lines acknowledged by a sink.",
            ),
            &["sink"],
        )?;
        let bytes_shipped = IntCounterVec::new(
            Opts::new(
                "shepard_log_bytes_shipped_total",
                "Bytes of task log text (newlines included) acknowledged by a sink.",
            ),
            &["sink"],
        )?;
        let ship_errors = IntCounterVec::new(
            Opts::new(
                "shepard_log_ship_errors_total",
                "Failed attempts to ship a batch of task log lines to a sink (retried).",
            ),
            &["sink"],
        )?;
        let lag = LagGauge {
            gauge: Gauge::new(
                "shepard_log_ship_lag_seconds",
                "Age of the oldest task log line read but not yet acknowledged by every sink.",
            )?,
            source: Arc::new(Mutex::new(None)),
        };
        let lost_bytes = IntCounter::new(
            "shepard_log_lost_bytes_total",
            "Bytes of task logs rotated away by Nomad before they could be read.",
        )?;
        let tailed_files = IntGauge::new(
            "shepard_log_tailed_files",
            "Task log files held open by the log tailers.",
        )?;
        registry.register(Box::new(lines_shipped.clone()))?;
        registry.register(Box::new(bytes_shipped.clone()))?;
        registry.register(Box::new(ship_errors.clone()))?;
        registry.register(Box::new(lag.clone()))?;
        registry.register(Box::new(lost_bytes.clone()))?;
        registry.register(Box::new(tailed_files.clone()))?;
        Ok(Self {
            lines_shipped,
            bytes_shipped,
            ship_errors,
            lag,
            lost_bytes,
            tailed_files,
        })
    }

    /// Metrics registered in a private registry: for tests and tools that export nothing.
    pub fn unregistered() -> Self {
        // Registering fresh collectors in a new registry cannot collide.
        Self::register(&Registry::new()).unwrap_or_else(|e| panic!("metric definitions: {e}"))
    }

    /// Creates the series of `sink` at zero, so dashboards see it before its first line.
    pub fn init_sink(&self, sink: &str) {
        self.lines_shipped.with_label_values(&[sink]);
        self.bytes_shipped.with_label_values(&[sink]);
        self.ship_errors.with_label_values(&[sink]);
    }

    pub fn shipped(&self, sink: &str, lines: u64, bytes: u64) {
        self.lines_shipped.with_label_values(&[sink]).inc_by(lines);
        self.bytes_shipped.with_label_values(&[sink]).inc_by(bytes);
    }

    pub fn ship_failed(&self, sink: &str) {
        self.ship_errors.with_label_values(&[sink]).inc();
    }

    pub fn lost(&self, bytes: u64) {
        self.lost_bytes.inc_by(bytes);
    }

    pub fn set_tailed_files(&self, files: usize) {
        self.tailed_files
            .set(i64::try_from(files).unwrap_or(i64::MAX));
    }

    /// Where the lag comes from: a function returning (oldest unacknowledged read time, now).
    pub(crate) fn set_lag_source(
        &self,
        source: impl Fn() -> Option<(SystemTime, SystemTime)> + Send + Sync + 'static,
    ) {
        let mut slot = self.lag.source.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(Arc::new(source));
    }

    pub fn lines_shipped(&self, sink: &str) -> u64 {
        self.lines_shipped.with_label_values(&[sink]).get()
    }

    pub fn bytes_shipped(&self, sink: &str) -> u64 {
        self.bytes_shipped.with_label_values(&[sink]).get()
    }

    pub fn ship_errors(&self, sink: &str) -> u64 {
        self.ship_errors.with_label_values(&[sink]).get()
    }

    pub fn lost_bytes(&self) -> u64 {
        self.lost_bytes.get()
    }

    pub fn tailed_files(&self) -> i64 {
        self.tailed_files.get()
    }

    /// `shepard_log_ship_lag_seconds` as a scrape would see it now.
    pub fn ship_lag_seconds(&self) -> f64 {
        self.lag.current()
    }
}

/// A gauge whose value is computed at scrape time from the shipper's queue.
#[derive(Clone)]
struct LagGauge {
    gauge: Gauge,
    source: Arc<Mutex<Option<OldestSource>>>,
}

impl LagGauge {
    fn current(&self) -> f64 {
        let source = self
            .source
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        source.and_then(|f| f()).map_or(0.0, |(oldest, now)| {
            now.duration_since(oldest).map_or(0.0, |d| d.as_secs_f64())
        })
    }
}

impl Collector for LagGauge {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.gauge.set(self.current());
        self.gauge.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_contract_names_are_exported_and_the_lag_is_computed_when_scraped() {
        let registry = Registry::new();
        let metrics = LogMetrics::register(&registry).unwrap();
        metrics.init_sink("file");
        metrics.shipped("file", 3, 42);
        metrics.lost(7);
        let oldest = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        metrics.set_lag_source(move || Some((oldest, oldest + Duration::from_millis(2500))));
        let families = registry.gather();
        let value = |name: &str| {
            let family = families
                .iter()
                .find(|f| f.name() == name)
                .unwrap_or_else(|| panic!("{name} missing"));
            let metric = &family.get_metric()[0];
            match family.get_field_type() {
                prometheus::proto::MetricType::COUNTER => metric.get_counter().get_value(),
                _ => metric.get_gauge().get_value(),
            }
        };
        assert_eq!(value("shepard_log_lines_shipped_total"), 3.0);
        assert_eq!(value("shepard_log_bytes_shipped_total"), 42.0);
        assert_eq!(value("shepard_log_ship_errors_total"), 0.0);
        assert_eq!(value("shepard_log_lost_bytes_total"), 7.0);
        assert_eq!(value("shepard_log_ship_lag_seconds"), 2.5);
        assert_eq!(value("shepard_log_tailed_files"), 0.0);
    }
}
