//! The per-allocation record at `state/<node>/<alloc_id>/<task>`: the restart phase and what it
//! needs to survive an agent restart (slot claimed, trigger token and time), plus the
//! fingerprints the current run started with and up to when it read them (the baseline of
//! drift detection).
//!
//! An in-flight record *claims* its slot: while a record is `triggered`, `restarted`,
//! `verifying` or `stuck`, slot `slot` counts as taken even if its lock was released (the
//! holder's session died), so no other allocation can start a restart in its place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::files::Fingerprint;
use super::identity::TaskId;
use crate::time::Timestamp;

/// The restart phase machine of one allocation's task (see `reconcilers/README.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Running the configuration rendered for it.
    InSync,
    /// A watched file changed after the run started; no restart can start now.
    Drifted,
    /// Drifted, the rollout is rolling, waiting for a free restart slot.
    Waiting,
    /// Slot claimed, restart trigger written (or about to be) at `triggered_at`.
    Triggered,
    /// The task restarted after the trigger; not healthy yet.
    Restarted,
    /// Healthy since some time; waiting for `min_healthy_time`.
    Verifying,
    /// Missed `healthy_deadline`; keeps its slot so the rollout stays stopped.
    Stuck,
    /// The allocation stopped or was replaced; nothing left to do.
    Stopped,
}

impl Phase {
    /// Whether a record in this phase claims its slot.
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            Phase::Triggered | Phase::Restarted | Phase::Verifying | Phase::Stuck
        )
    }

    /// Whether the allocation waits to be restarted.
    pub fn drifted(self) -> bool {
        matches!(self, Phase::Drifted | Phase::Waiting)
    }
}

/// The JSON record of one allocation's task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocRecord {
    /// The task this allocation runs (the key names only node, alloc and task).
    pub task: TaskId,
    /// The allocation's index.
    pub alloc_index: u32,
    /// Current phase.
    pub phase: Phase,
    /// `StartedAt` of the run that `applied` describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_started_at: Option<Timestamp>,
    /// The run's read cutoff (`drift::read_cutoff`): a watched file changed after it may not
    /// have been read by the run. Absent when it is `run_started_at` (a first run, or a record
    /// written before the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_cutoff: Option<Timestamp>,
    /// Fingerprints of the watched files that run started with (the applied configuration).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub applied: BTreeMap<String, Fingerprint>,
    /// Fingerprints of the changed files the restart rolls out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target: BTreeMap<String, Fingerprint>,
    /// When this drift (this `target`) was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_detected_at: Option<Timestamp>,
    /// The restart slot claimed while in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
    /// The trigger token written for this restart (consul-key method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// When the slot was claimed (the first trigger of this restart; kept across retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<Timestamp>,
    /// When the restart was (last) triggered (t0 of the phase machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<Timestamp>,
    /// The rollout generation the restart belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// `TaskState.Restarts` when the restart was triggered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts_at_trigger: Option<u64>,
    /// When the restart missed its deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stuck_at: Option<Timestamp>,
    /// Why the last restart failed or was given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why shepard cannot restart the allocation at all for now (its trigger key is refused);
    /// cleared once that no longer holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// A newer configuration than `target`, seen while the restart is stuck under a rollout
    /// that allows no retry (aborted, paused). The restart keeps its slot (its instance is
    /// still broken); the leader reads this to start the rollout of that configuration, which
    /// then retries on the slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_target: Option<BTreeMap<String, Fingerprint>>,
    /// When this restart's token was first written to its trigger key, if it has been written
    /// again since (`triggered_at` is then the latest write). The first write may have landed
    /// with its answer lost: a task started after it has been restarted by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_triggered_at: Option<Timestamp>,
    /// When the record was written.
    pub updated_at: Timestamp,
}

/// A record value that is not a valid record.
#[derive(Debug, thiserror::Error)]
#[error("invalid record JSON: {0}")]
pub struct RecordError(#[from] serde_json::Error);

impl AllocRecord {
    /// A fresh record for a task's allocation, in sync, written at `now`.
    pub fn new(task: TaskId, alloc_index: u32, now: Timestamp) -> Self {
        AllocRecord {
            task,
            alloc_index,
            phase: Phase::InSync,
            run_started_at: None,
            read_cutoff: None,
            applied: BTreeMap::new(),
            target: BTreeMap::new(),
            drift_detected_at: None,
            slot: None,
            token: None,
            claimed_at: None,
            triggered_at: None,
            generation: None,
            restarts_at_trigger: None,
            stuck_at: None,
            last_error: None,
            problem: None,
            next_target: None,
            first_triggered_at: None,
            updated_at: now,
        }
    }

    /// The slot this record claims, if it is in flight.
    pub fn claimed_slot(&self) -> Option<u32> {
        if self.phase.in_flight() {
            self.slot
        } else {
            None
        }
    }

    /// The record without its restart: no slot, token or trigger.
    pub fn without_restart(mut self) -> Self {
        self.slot = None;
        self.token = None;
        self.claimed_at = None;
        self.triggered_at = None;
        self.generation = None;
        self.restarts_at_trigger = None;
        self.stuck_at = None;
        self.next_target = None;
        self.first_triggered_at = None;
        self
    }

    /// Since when a start of the task counts as this restart's: its first trigger.
    pub fn restart_cutoff(&self) -> Option<Timestamp> {
        self.first_triggered_at.or(self.triggered_at)
    }

    /// Same content apart from `updated_at`: nothing worth a write.
    pub fn same_as(&self, other: &AllocRecord) -> bool {
        AllocRecord {
            updated_at: other.updated_at,
            ..self.clone()
        } == *other
    }

    /// The JSON value to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a stored value.
    pub fn from_json(text: &str) -> Result<Self, RecordError> {
        Ok(serde_json::from_str(text)?)
    }
}
