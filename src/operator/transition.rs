//! The operator's state changes of a rollout record, as pure functions: `pause`, `resume` and
//! `abort`, and which of them make sense from which state. `resume` also names the stuck
//! allocations in the record's `skipped` map with the configuration they are stuck on, so the
//! rollout goes on without them (the agents' decision core then ends those restarts and leaves
//! the allocations alone until a newer configuration; see the reconcilers' README).

use std::collections::BTreeMap;
use std::fmt;

use shepard_reconcilers::Timestamp;
use shepard_reconcilers::model::{Fingerprint, RolloutRecord, RolloutState};

/// An allocation whose restart is stuck, and the configuration it was restarted to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckAlloc {
    pub alloc_id: String,
    /// Its record's `target` fingerprints.
    pub target: BTreeMap<String, Fingerprint>,
}

/// What an operator asks of a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `rolling`, `stuck` or `planned` → `paused`.
    Pause,
    /// `paused`, `planned` or `stuck` → `rolling`, skipping stuck allocations.
    Resume,
    /// Any active state → `aborted`.
    Abort,
}

impl Operation {
    /// The verb, for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Operation::Pause => "pause",
            Operation::Resume => "resume",
            Operation::Abort => "abort",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb())
    }
}

/// A change that makes no sense for the rollout's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The rollout is already in the state the operation leads to.
    #[error("cannot {op} the rollout: it is already {state}")]
    Already { op: Operation, state: &'static str },
    /// The rollout is complete or aborted; only a new configuration change starts another.
    #[error(
        "cannot {op} the rollout: it is {state} (finished); the next configuration change starts a new rollout"
    )]
    Finished { op: Operation, state: &'static str },
}

/// The record after the change, written at `now`. `stuck_allocs`: the task's allocations whose
/// restart is stuck (only `resume` uses them). `rolling`: the configurations the task's
/// allocations are drifted or being restarted to (only `abort` uses them: only drift to
/// another configuration starts a new rollout after it).
pub fn apply(
    op: Operation,
    record: &RolloutRecord,
    stuck_allocs: &[StuckAlloc],
    rolling: &[BTreeMap<String, Fingerprint>],
    now: Timestamp,
) -> Result<RolloutRecord, TransitionError> {
    use RolloutState::*;
    let state = record.state;
    let mut next = RolloutRecord {
        updated_at: now,
        ..record.clone()
    };
    match (op, state) {
        (_, Complete | Aborted) => {
            return Err(TransitionError::Finished {
                op,
                state: name(state),
            });
        }
        (Operation::Pause, Paused) => {
            return Err(TransitionError::Already {
                op,
                state: name(state),
            });
        }
        (Operation::Pause, Rolling | Stuck | Planned) => {
            next.state = Paused;
            next.reason = format!("paused by an operator (was {})", name(state));
        }
        (Operation::Resume, Rolling) if stuck_allocs.is_empty() => {
            return Err(TransitionError::Already {
                op,
                state: name(state),
            });
        }
        (Operation::Resume, Rolling | Paused | Planned | Stuck) => {
            next.state = Rolling;
            // The leader's progress watch starts again: time paused or stalled is not a stall.
            next.progress = None;
            next.skipped.extend(
                stuck_allocs
                    .iter()
                    .map(|a| (a.alloc_id.clone(), a.target.clone())),
            );
            let ids: Vec<&str> = stuck_allocs.iter().map(|a| a.alloc_id.as_str()).collect();
            next.reason = if stuck_allocs.is_empty() {
                format!("resumed by an operator (was {})", name(state))
            } else {
                format!(
                    "resumed by an operator (was {}), going on without stuck allocation{} {}",
                    name(state),
                    if stuck_allocs.len() == 1 { "" } else { "s" },
                    ids.join(", ")
                )
            };
        }
        (Operation::Abort, Rolling | Paused | Planned | Stuck) => {
            next.state = Aborted;
            next.reason = format!("aborted by an operator (was {})", name(state));
            next.finished_at = Some(now);
            next.aborted_targets = Some(rolling.to_vec());
        }
    }
    Ok(next)
}

fn name(state: RolloutState) -> &'static str {
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
    use std::time::Duration;

    use super::*;

    fn record(state: RolloutState) -> RolloutRecord {
        let t = Timestamp::from_unix_secs(1_700_000_000);
        RolloutRecord {
            id: "r-1".into(),
            generation: 2,
            state,
            max_parallel: 2,
            min_healthy_time: Duration::from_secs(10),
            healthy_deadline: Duration::from_secs(60),
            instance_count: 6,
            reason: "configuration changed".into(),
            created_at: t,
            created_by: "n1".into(),
            updated_at: t,
            finished_at: None,
            skipped: Default::default(),
            aborted_targets: None,
            progress: None,
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_unix_secs(1_700_000_100)
    }

    #[test]
    fn every_operation_from_every_state() {
        use RolloutState::*;
        let ok = |op, from, to| {
            let next = apply(op, &record(from), &[], &[], now()).unwrap();
            assert_eq!(next.state, to, "{op} from {from:?}");
            assert_eq!(next.updated_at, now());
        };
        let refused = |op, from| {
            assert!(
                apply(op, &record(from), &[], &[], now()).is_err(),
                "{op} from {from:?}"
            );
        };
        for from in [Rolling, Stuck, Planned] {
            ok(Operation::Pause, from, Paused);
        }
        for from in [Paused, Planned, Stuck] {
            ok(Operation::Resume, from, Rolling);
        }
        for from in [Rolling, Paused, Planned, Stuck] {
            ok(Operation::Abort, from, Aborted);
        }
        for op in [Operation::Pause, Operation::Resume, Operation::Abort] {
            refused(op, Complete);
            refused(op, Aborted);
        }
        refused(Operation::Pause, Paused);
        refused(Operation::Resume, Rolling);
    }

    #[test]
    fn resume_of_a_stuck_rollout_skips_its_stuck_allocations() {
        let target: BTreeMap<String, Fingerprint> =
            [("local/config.yml".to_owned(), Fingerprint::new("v2"))].into();
        let stuck = vec![StuckAlloc {
            alloc_id: "alloc-b".to_owned(),
            target: target.clone(),
        }];
        let next = apply(
            Operation::Resume,
            &record(RolloutState::Stuck),
            &stuck,
            &[],
            now(),
        )
        .unwrap();
        assert_eq!(next.state, RolloutState::Rolling);
        assert!(next.skips("alloc-b", &target));
        assert!(
            !next.skips("alloc-b", &BTreeMap::new()),
            "only for that configuration"
        );
        assert_eq!(
            next.reason,
            "resumed by an operator (was stuck), going on without stuck allocation alloc-b"
        );
    }

    #[test]
    fn abort_records_when_it_finished_and_complete_cannot_be_resumed() {
        let v2: BTreeMap<String, Fingerprint> =
            [("local/config.yml".to_owned(), Fingerprint::new("v2"))].into();
        let rolling = vec![v2];
        let next = apply(
            Operation::Abort,
            &record(RolloutState::Rolling),
            &[],
            &rolling,
            now(),
        )
        .unwrap();
        assert_eq!(next.finished_at, Some(now()));
        assert_eq!(next.aborted_targets, Some(rolling), "what it aborted");
        let err = apply(
            Operation::Resume,
            &record(RolloutState::Complete),
            &[],
            &[],
            now(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot resume the rollout: it is complete (finished); the next configuration change starts a new rollout"
        );
    }
}
