//! Health of a restarted task: the task is `running`, its run started after the trigger, and
//! every Consul check of the allocation's services passes *and has been seen to run since the
//! run started*. A task without checks is judged by its state alone. "Healthy since" is the
//! latest point at which each check was proven to pass for this run; `min_healthy_time` counts
//! from there.
//!
//! Why the proof: Nomad does not register a group's services again when a task restarts, so
//! their checks keep the status of the previous run until Consul next runs them, up to an
//! interval later. A check's status alone would let a broken run pass for a healthy one.
//! Consul 1.8 reports no time of a check's last run, so a check counts for a run only when the
//! agent saw its result (status or output) change after the run started, or when it still
//! passes a full report time (`interval × failures_before_critical + timeout`, plus a margin
//! for Consul to sync the result and the watch to see it) after the later of the start and
//! the check's registration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{CheckObservation, CheckStatus, TaskRun, TaskState};
use crate::time::Timestamp;

/// Allowance for a check result to reach the catalog (Consul syncs a status change at once)
/// and the agent's blocking watch.
pub const REPORT_MARGIN: Duration = Duration::from_secs(1);

/// The verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "health", rename_all = "snake_case")]
pub enum Health {
    /// Healthy, continuously since `since`.
    Healthy {
        /// Since when.
        since: Timestamp,
    },
    /// Every check passes, but not every one has been seen to run since the run started.
    Unproven {
        /// Which check, for the record's `last_error`.
        reason: String,
        /// When the passing status becomes proof if nothing changes; `None` when only a seen
        /// result change can prove it (the check's report time is unknown).
        proven_at: Option<Timestamp>,
    },
    /// Not healthy.
    Unhealthy {
        /// Why, for the record's `last_error`.
        reason: String,
    },
}

/// Judges the task's current run at `now`; `is_restart` says whether that run is the
/// restart's (started after its trigger). Evidence counts from the run's start, or from the
/// agent's last wall-clock step if that came later: no proof spans a step.
pub fn judge(
    run: Option<&TaskRun>,
    checks: &[CheckObservation],
    has_checks: bool,
    is_restart: bool,
    clock_stepped_at: Option<Timestamp>,
    now: Timestamp,
) -> Health {
    let unhealthy = |reason: String| Health::Unhealthy { reason };
    let Some(run) = run else {
        return unhealthy("task has no state yet".to_owned());
    };
    let started_at = match (run.state, run.started_at) {
        (TaskState::Running, Some(started)) if is_restart => {
            started.counted_from(clock_stepped_at, now)
        }
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
    let mut since = started_at;
    let mut unproven: Option<(&CheckObservation, Option<Timestamp>)> = None;
    for check in checks {
        match proof(check, started_at, now) {
            Proof::Since(at) => since = since.max(at),
            Proof::Due(at) => {
                // The verdict waits for the check proven last.
                let later = match unproven {
                    Some((_, Some(t))) => Some(t.max(at)),
                    Some((_, None)) => None,
                    None => Some(at),
                };
                unproven = Some((check, later));
            }
            Proof::NeedsChange => unproven = Some((check, None)),
        }
    }
    match unproven {
        Some((check, proven_at)) => Health::Unproven {
            reason: format!("check {} has not run since the restart", check.check_id),
            proven_at,
        },
        None => Health::Healthy { since },
    }
}

/// What proves that a passing check passes for the run started at `started_at`.
enum Proof {
    /// Proven: passing for this run since then.
    Since(Timestamp),
    /// Proven at that time (in the future) if it still passes then.
    Due(Timestamp),
    /// Only a result change can prove it.
    NeedsChange,
}

fn proof(check: &CheckObservation, started_at: Timestamp, now: Timestamp) -> Proof {
    if let Some(changed) = check.result_changed_at.filter(|t| *t > started_at) {
        // It ran after the start. If it turned passing after the start (a change within this
        // registration, not its initial status), it has passed since then.
        let turned_passing = check.since > started_at && check.since > check.registered_at;
        return Proof::Since(if turned_passing { check.since } else { changed });
    }
    let Some(report_within) = check.report_within else {
        return Proof::NeedsChange;
    };
    let due = started_at
        .max(check.registered_at)
        .plus(report_within)
        .plus(REPORT_MARGIN);
    if now >= due {
        Proof::Since(due)
    } else {
        Proof::Due(due)
    }
}
