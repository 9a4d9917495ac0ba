//! Domain metrics (README, "Metrics"): managed and drifted tasks, restarts and their duration, slot
//! wait, rollout state as seen by this agent, GC deletions and reported problems.
//!
//! The Nomad job is the `job_name` label: `job` is the scrape target's own label in
//! Prometheus, and a metric label of that name would be renamed `exported_job` on scrape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use shepard_reconcilers::model::{RolloutState, TaskId};
use shepard_reconcilers::{Event, Problem, ProblemKind, RestartResult};

/// Labels naming a task.
const TASK_LABELS: [&str; 4] = ["namespace", "job_name", "group", "task"];

/// Every rollout state, for the one-hot `shepard_rollout_state` gauge.
pub const ROLLOUT_STATES: [RolloutState; 6] = [
    RolloutState::Planned,
    RolloutState::Rolling,
    RolloutState::Paused,
    RolloutState::Stuck,
    RolloutState::Complete,
    RolloutState::Aborted,
];

/// Restarts take seconds to minutes (start-up plus `min_healthy_time`).
const RESTART_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// Waiting for a slot lasts as long as the restarts ahead in the rollout.
const WAIT_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

/// Handles to the domain metrics; clones share the series.
#[derive(Clone)]
pub struct DomainMetrics {
    managed_tasks: IntGauge,
    drifted_tasks: IntGauge,
    restarts: IntCounterVec,
    restart_duration: HistogramVec,
    slot_wait: prometheus::Histogram,
    rollout_state: IntGaugeVec,
    rollout_stuck: IntGaugeVec,
    rollout_leader: IntGaugeVec,
    gc_deleted: IntCounterVec,
    problems: IntCounterVec,
    problems_seen: Arc<Mutex<ProblemsSeen>>,
}

/// The problems reported, by kind and subject: their detail and when.
type ProblemsSeen = HashMap<(ProblemKind, String), (String, Instant)>;

/// A problem that lasts (every reconcile of its task finds it again) is logged and counted
/// again this often, not at every reconcile.
pub const PROBLEM_REPEAT: Duration = Duration::from_secs(3600);

impl DomainMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let managed_tasks = IntGauge::new(
            "shepard_managed_tasks",
            "Managed tasks of live allocations on this node.",
        )?;
        let drifted_tasks = IntGauge::new(
            "shepard_drifted_tasks",
            "Managed tasks on this node whose rendered configuration changed after their run \
             started, not yet restarted.",
        )?;
        let restarts = IntCounterVec::new(
            Opts::new(
                "shepard_restarts_total",
                "Restarts finished, by result (healthy, stuck, aborted, alloc_stopped).",
            ),
            &[&TASK_LABELS[..], &["result"]].concat(),
        )?;
        let restart_duration = HistogramVec::new(
            HistogramOpts::new(
                "shepard_restart_duration_seconds",
                "Time from a restart's trigger to the allocation being healthy for \
                 min_healthy_time.",
            )
            .buckets(RESTART_BUCKETS.to_vec()),
            &TASK_LABELS,
        )?;
        let slot_wait = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "shepard_slot_wait_seconds",
                "Time from drift detection to the restart trigger (waiting for a slot).",
            )
            .buckets(WAIT_BUCKETS.to_vec()),
        )?;
        let rollout_state = IntGaugeVec::new(
            Opts::new(
                "shepard_rollout_state",
                "1 for the current state of each rollout of a task with an allocation on this \
                 node.",
            ),
            &[&TASK_LABELS[..], &["state"]].concat(),
        )?;
        let rollout_stuck = IntGaugeVec::new(
            Opts::new(
                "shepard_rollout_stuck",
                "1 while the rollout of a task with an allocation on this node is stuck.",
            ),
            &TASK_LABELS,
        )?;
        let rollout_leader = IntGaugeVec::new(
            Opts::new(
                "shepard_rollout_leader",
                "1 while this agent holds the task's rollout leader lock.",
            ),
            &TASK_LABELS,
        )?;
        let gc_deleted = IntCounterVec::new(
            Opts::new(
                "shepard_gc_deleted_keys_total",
                "Keys under the prefix deleted because their allocation, job or node is gone.",
            ),
            &["kind"],
        )?;
        let problems = IntCounterVec::new(
            Opts::new(
                "shepard_problems_total",
                "Problems reported (bad meta values, unreadable keys, templates that restart on \
                 their own, trigger keys with unusable names or shared by two allocations, steps \
                 of the wall clock), by kind; one that lasts is counted again every hour.",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(managed_tasks.clone()))?;
        registry.register(Box::new(drifted_tasks.clone()))?;
        registry.register(Box::new(restarts.clone()))?;
        registry.register(Box::new(restart_duration.clone()))?;
        registry.register(Box::new(slot_wait.clone()))?;
        registry.register(Box::new(rollout_state.clone()))?;
        registry.register(Box::new(rollout_stuck.clone()))?;
        registry.register(Box::new(rollout_leader.clone()))?;
        registry.register(Box::new(gc_deleted.clone()))?;
        registry.register(Box::new(problems.clone()))?;
        Ok(Self {
            managed_tasks,
            drifted_tasks,
            restarts,
            restart_duration,
            slot_wait,
            rollout_state,
            rollout_stuck,
            rollout_leader,
            gc_deleted,
            problems,
            problems_seen: Arc::default(),
        })
    }

    /// Metrics in a private registry, for tests.
    pub fn unregistered() -> Self {
        // Fresh collectors in a new registry cannot collide.
        Self::register(&Registry::new()).unwrap_or_else(|e| panic!("metric definitions: {e}"))
    }

    pub fn set_task_counts(&self, managed: usize, drifted: usize) {
        self.managed_tasks
            .set(i64::try_from(managed).unwrap_or(i64::MAX));
        self.drifted_tasks
            .set(i64::try_from(drifted).unwrap_or(i64::MAX));
    }

    /// Records a domain event of the task reconciler.
    pub fn event(&self, event: &Event) {
        match event {
            Event::RestartTriggered { waited, .. } => {
                self.slot_wait.observe(waited.as_secs_f64());
            }
            Event::RestartFinished {
                task,
                result,
                duration,
                ..
            } => {
                let labels = task_labels(task);
                let result_label = restart_result(*result);
                self.restarts
                    .with_label_values(&[&labels[..], &[result_label]].concat())
                    .inc();
                if *result == RestartResult::Healthy {
                    self.restart_duration
                        .with_label_values(&labels)
                        .observe(duration.as_secs_f64());
                }
            }
        }
    }

    /// Publishes the state of `task`'s rollout (`None`: no record) and whether we lead it.
    pub fn set_rollout(&self, task: &TaskId, state: Option<RolloutState>, leader: bool) {
        let labels = task_labels(task);
        for candidate in ROLLOUT_STATES {
            let value = i64::from(state == Some(candidate));
            self.rollout_state
                .with_label_values(&[&labels[..], &[rollout_state(candidate)]].concat())
                .set(value);
        }
        self.rollout_stuck
            .with_label_values(&labels)
            .set(i64::from(state == Some(RolloutState::Stuck)));
        self.rollout_leader
            .with_label_values(&labels)
            .set(i64::from(leader));
    }

    /// Removes the rollout series of a task no longer on this node.
    pub fn forget_rollout(&self, task: &TaskId) {
        let labels = task_labels(task);
        for candidate in ROLLOUT_STATES {
            let _ = self
                .rollout_state
                .remove_label_values(&[&labels[..], &[rollout_state(candidate)]].concat());
        }
        let _ = self.rollout_stuck.remove_label_values(&labels);
        let _ = self.rollout_leader.remove_label_values(&labels);
    }

    pub fn gc_deleted(&self, kind: &str) {
        self.gc_deleted.with_label_values(&[kind]).inc();
    }

    /// Counts `problem` unless the same one (kind, subject and detail) was counted less than
    /// [`PROBLEM_REPEAT`] ago; whether it was counted, so the caller logs it too.
    pub fn report_problem(&self, problem: &Problem) -> bool {
        let mut seen = self
            .problems_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (problem.kind, problem.subject.clone());
        let repeat = seen
            .get(&key)
            .is_some_and(|(detail, at)| *detail == problem.detail && at.elapsed() < PROBLEM_REPEAT);
        if repeat {
            return false;
        }
        seen.insert(key, (problem.detail.clone(), Instant::now()));
        drop(seen);
        self.problem(problem.kind);
        true
    }

    pub fn problem(&self, kind: ProblemKind) {
        let label = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into());
        self.problems.with_label_values(&[label.as_str()]).inc();
    }

    /// Value of `shepard_restarts_total` for `task` and `result`, for tests.
    pub fn restarts(&self, task: &TaskId, result: RestartResult) -> u64 {
        let labels = task_labels(task);
        self.restarts
            .with_label_values(&[&labels[..], &[restart_result(result)]].concat())
            .get()
    }
}

fn task_labels(task: &TaskId) -> [&str; 4] {
    [&task.namespace, &task.job, &task.group, &task.task]
}

fn restart_result(result: RestartResult) -> &'static str {
    match result {
        RestartResult::Healthy => "healthy",
        RestartResult::Stuck => "stuck",
        RestartResult::Aborted => "aborted",
        RestartResult::AllocStopped => "alloc_stopped",
    }
}

fn rollout_state(state: RolloutState) -> &'static str {
    match state {
        RolloutState::Planned => "planned",
        RolloutState::Rolling => "rolling",
        RolloutState::Paused => "paused",
        RolloutState::Stuck => "stuck",
        RolloutState::Complete => "complete",
        RolloutState::Aborted => "aborted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(subject: &str, detail: &str) -> Problem {
        Problem {
            kind: ProblemKind::SharedTriggerKey,
            subject: subject.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn a_lasting_problem_is_counted_once_and_a_new_one_at_once() {
        let metrics = DomainMetrics::register(&Registry::new()).unwrap();
        let count = || {
            metrics
                .problems
                .with_label_values(&["shared_trigger_key"])
                .get()
        };
        assert!(metrics.report_problem(&problem("a", "shares k")));
        assert!(!metrics.report_problem(&problem("a", "shares k")));
        assert_eq!(count(), 1);
        // Another subject, or the same one with another detail, is news.
        assert!(metrics.report_problem(&problem("b", "shares k")));
        assert!(metrics.report_problem(&problem("a", "shares j")));
        assert_eq!(count(), 3);
    }
}
