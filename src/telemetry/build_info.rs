//! `shepard_build_info{version}`: a gauge fixed at 1 whose label says which version runs, so
//! dashboards can show and alert on mixed versions across agents.

use prometheus::{IntGaugeVec, Opts, Registry};

/// The version compiled into this binary.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Registers `shepard_build_info{version="<this version>"} 1` in `registry`.
pub fn register(registry: &Registry) -> Result<(), prometheus::Error> {
    let gauge = IntGaugeVec::new(
        Opts::new(
            "shepard_build_info",
            "Always 1; the version label is the running shepard version.",
        ),
        &["version"],
    )?;
    gauge.with_label_values(&[VERSION]).set(1);
    registry.register(Box::new(gauge))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_is_one_with_the_version() {
        let registry = Registry::new();
        register(&registry).unwrap();
        let families = registry.gather();
        assert_eq!(families.len(), 1);
        let metric = &families[0].get_metric()[0];
        assert_eq!(metric.get_gauge().get_value(), 1.0);
        assert_eq!(metric.get_label()[0].value(), VERSION);
    }
}
