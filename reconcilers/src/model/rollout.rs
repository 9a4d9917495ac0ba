//! The rollout record at `rollouts/<ns>/<job>/<group>/<task>` (the key layout in the README): one rollout of a
//! configuration change across a task's allocations, written by the rollout leader by CAS.
//! `paused` and `aborted` are set by operators; shepard never overrides them. So is `skipped`:
//! the allocations an operator told a stuck rollout to go on without.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::files::Fingerprint;
use crate::time::Timestamp;

/// The state of a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutState {
    /// Prepared but not started; shepard never writes it and starts no restart in it (an
    /// operator approves by setting `rolling`).
    Planned,
    /// Restarts proceed, `max_parallel` at a time.
    Rolling,
    /// Operator pause: restarts in flight finish, no new ones start.
    Paused,
    /// A restart missed its deadline: no new restarts until it recovers or is replaced.
    Stuck,
    /// No allocation is drifted or in flight any more.
    Complete,
    /// Operator abort: in-flight restarts release their slots, nothing new starts until a newer
    /// configuration change.
    Aborted,
}

impl RolloutState {
    /// A rollout that still governs its task (a new one may be created only when none is).
    pub fn is_active(self) -> bool {
        !matches!(self, RolloutState::Complete | RolloutState::Aborted)
    }
}

/// The JSON rollout record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// Unique ID of this rollout.
    pub id: String,
    /// Increases by one per rollout of the task.
    pub generation: u64,
    /// Current state.
    pub state: RolloutState,
    /// Restart slots.
    pub max_parallel: u32,
    /// How long a restarted allocation must stay healthy.
    #[serde(with = "humantime_serde")]
    pub min_healthy_time: Duration,
    /// How long after its trigger a restart may take to become healthy.
    #[serde(with = "humantime_serde")]
    pub healthy_deadline: Duration,
    /// Live allocations of the task when last written.
    pub instance_count: u32,
    /// Why the rollout is in its state.
    pub reason: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// The node whose agent created it.
    pub created_by: String,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// When it reached `complete` or `aborted`.
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
    /// Allocations this rollout goes on without (operator `resume` of a stuck rollout), each
    /// with the configuration it was stuck on (its record's `target`). A stuck restart to that
    /// configuration gives up its slot, and the rollout does not restart the allocation to it
    /// again; a newer configuration change restarts it as usual. A new rollout starts with
    /// none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, BTreeMap<String, Fingerprint>>,
    /// The configurations (records' `target`) the allocations were drifted or being restarted
    /// to when the leader first saw the rollout `aborted`. Only drift to another one starts a
    /// new rollout: content, not clocks, tells an older change from a newer one. `None` until
    /// the leader has seen the abort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_targets: Option<Vec<BTreeMap<String, Fingerprint>>>,
    /// The leader's watch on progress while `rolling`; cleared by an operator's `resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// When the rollout last moved: a restart ended, or one started after none was running.
///
/// Only the leader that wrote it compares `at` with its own clock: a new leader starts the
/// watch again instead of comparing its clock with another host's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The restarts in flight then (`<token>@<triggered_at>`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub restarting: BTreeSet<String>,
    /// A digest of the runs the task's records named then (allocation and `run_started_at`):
    /// it changes when a restart ends, even one that no leader saw in flight.
    #[serde(default)]
    pub runs: String,
    /// When, by the clock of `by`.
    pub at: Timestamp,
    /// The node whose leader wrote it.
    pub by: String,
    /// The rollout went `stuck` because nothing moved for too long.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stalled: bool,
}

/// A rollout value that is not a valid record.
#[derive(Debug, thiserror::Error)]
#[error("invalid rollout JSON: {0}")]
pub struct RolloutError(#[from] serde_json::Error);

impl RolloutRecord {
    /// Whether this rollout goes on without allocation `alloc_id` drifted to `target`.
    pub fn skips(&self, alloc_id: &str, target: &BTreeMap<String, Fingerprint>) -> bool {
        self.skipped.get(alloc_id).is_some_and(|t| t == target)
    }

    /// The JSON value to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a stored value.
    pub fn from_json(text: &str) -> Result<Self, RolloutError> {
        Ok(serde_json::from_str(text)?)
    }
}
