//! Health of a restarted task (DESIGN §4): the task is `running`, its run started after the
//! trigger, and every Consul check of the allocation's services passes. A task without checks
//! is judged by its state alone. "Healthy since" is the latest of the run's start and the
//! checks' last status changes.

use serde::{Deserialize, Serialize};

use crate::model::{CheckObservation, CheckStatus, TaskRun, TaskState};
use crate::time::Timestamp;

/// The verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "health", rename_all = "snake_case")]
pub enum Health {
    /// Healthy, continuously since `since`.
    Healthy {
        /// Since when.
        since: Timestamp,
    },
    /// Not healthy.
    Unhealthy {
        /// Why, for the record's `last_error`.
        reason: String,
    },
}

/// Judges the task's current run against a trigger at `triggered_at`.
pub fn judge(
    run: Option<&TaskRun>,
    checks: &[CheckObservation],
    has_checks: bool,
    triggered_at: Timestamp,
) -> Health {
    let unhealthy = |reason: String| Health::Unhealthy { reason };
    let Some(run) = run else {
        return unhealthy("task has no state yet".to_owned());
    };
    let started_at = match (run.state, run.started_at) {
        (TaskState::Running, Some(started)) if started > triggered_at => started,
        (TaskState::Running, _) => {
            return unhealthy("task has not restarted since the trigger".to_owned());
        }
        (TaskState::Pending, _) => return unhealthy("task is pending".to_owned()),
        (TaskState::Dead, _) => {
            let how = if run.failed { "failed" } else { "exited" };
            return unhealthy(format!("task is dead ({how})"));
        }
    };
    if has_checks && checks.is_empty() {
        return unhealthy("service checks are not registered yet".to_owned());
    }
    if let Some(bad) = checks.iter().find(|c| c.status != CheckStatus::Passing) {
        let status = match bad.status {
            CheckStatus::Warning => "warning",
            _ => "critical",
        };
        return unhealthy(format!("check {} is {status}", bad.check_id));
    }
    let since = checks
        .iter()
        .map(|c| c.since)
        .fold(started_at, Timestamp::max);
    Health::Healthy { since }
}
