//! The metric contract (README, "Metrics"): every metric name, type and label name an agent exposes,
//! pinned in a snapshot. Dashboards and alerts select on these names; a rename or a changed
//! label set fails here instead of silently emptying a panel.
//!
//! The agent's metrics are registered exactly as `shepard agent` does (build info, client,
//! runtime and domain metrics in one registry), and every labelled family is given one series,
//! since a family without series is not exposed. `tests/e2e_prometheus.rs` checks the other
//! direction: what live agents expose is all in this contract.

use std::time::Duration;

use prometheus::Registry;
use prometheus::proto::MetricType;
use shepard::agent::metrics::DomainMetrics;
use shepard::api_metrics::{Api, ApiMetrics};
use shepard::runtime::RuntimeMetrics;
use shepard::runtime::metrics::ReconcileResult;
use shepard::telemetry::build_info;
use shepard_reconcilers::model::{RolloutState, TaskId};
use shepard_reconcilers::{Event, ProblemKind, RestartResult};

/// The contract as one line per family: `name type {label,…}`, sorted by name. Labels are the
/// metric's own, sorted; histogram buckets' `le` is implied by the type.
fn contract_lines(registry: &Registry) -> Vec<String> {
    let mut lines: Vec<String> = registry
        .gather()
        .iter()
        .map(|family| {
            let mut labels: Vec<&str> = family
                .get_metric()
                .first()
                .map(|m| m.get_label().iter().map(|l| l.name()).collect())
                .unwrap_or_default();
            labels.sort_unstable();
            format!(
                "{} {} {{{}}}",
                family.name(),
                type_name(family.get_field_type()),
                labels.join(",")
            )
        })
        .collect();
    lines.sort();
    lines
}

fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::COUNTER => "counter",
        MetricType::GAUGE => "gauge",
        MetricType::HISTOGRAM => "histogram",
        MetricType::SUMMARY => "summary",
        MetricType::UNTYPED => "untyped",
    }
}

/// A registry holding the agent's metrics, each labelled family with one series.
fn agent_registry() -> Registry {
    let registry = Registry::new();
    build_info::register(&registry).unwrap();
    let api = ApiMetrics::register(&registry).unwrap();
    let runtime = RuntimeMetrics::register(&registry).unwrap();
    let domain = DomainMetrics::register(&registry).unwrap();
    shepard::agent::gc_metrics::GcMetrics::register(&registry).unwrap();
    // Registered by agents with a log sink configured.
    shepard::logship::LogMetrics::register(&registry)
        .unwrap()
        .init_sink("file");

    api.observe_request(Api::Consul, "kv_list", Some(200), Duration::from_millis(3));
    api.index_reset(Api::Consul, "kv");
    api.session_renew_failed();

    runtime.observe_reconcile("task", ReconcileResult::Error, Duration::from_millis(2));
    let _queue = runtime.queue("task");

    let task = TaskId {
        namespace: "default".into(),
        job: "hello-world".into(),
        group: "greeter".into(),
        task: "greet".into(),
    };
    domain.set_task_counts(6, 2);
    domain.event(&Event::RestartTriggered {
        task: task.clone(),
        alloc_id: "a1".into(),
        slot: 0,
        waited: Duration::from_secs(1),
    });
    domain.event(&Event::RestartFinished {
        task: task.clone(),
        alloc_id: "a1".into(),
        result: RestartResult::Healthy,
        duration: Duration::from_secs(4),
    });
    domain.set_rollout(&task, Some(RolloutState::Rolling), true);
    domain.gc_deleted("alloc");
    domain.problem(ProblemKind::BadMeta);
    registry
}

#[test]
fn metric_names_types_and_labels_are_the_contract() {
    let lines = contract_lines(&agent_registry());
    insta::assert_snapshot!("metric_contract", lines.join("\n"));
}
