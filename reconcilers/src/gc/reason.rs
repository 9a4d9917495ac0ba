//! Why GC deletes a key, and the outcome of a pass with each deletion's reason (what
//! `shepard gc --dry-run` prints).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::action::Decision;
use crate::keys::KeyKind;
use crate::model::TaskId;
use crate::time::Timestamp;

/// Why a key is deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum GcReason {
    /// No live allocation has the trigger key's allocation ID (alloc-ID layout), or none on
    /// this node has its job, group and index (legacy layout).
    TriggerUnused,
    /// The record's allocation is no longer live on this node.
    AllocGone {
        /// The allocation.
        alloc_id: String,
    },
    /// The key's node has been down or absent for longer than `node_cleanup_timeout`.
    NodeGone {
        /// The node.
        node: String,
        /// Since when.
        since: Timestamp,
    },
    /// The task's job is not listed, or stopped with no live allocation.
    JobGone {
        /// The task.
        task: TaskId,
    },
    /// A `complete` rollout that finished longer than `rollout_history` ago.
    RolloutExpired {
        /// When it finished.
        finished_at: Timestamp,
    },
}

impl fmt::Display for GcReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcReason::TriggerUnused => write!(f, "no live allocation on this node uses it"),
            GcReason::AllocGone { alloc_id } => {
                write!(f, "allocation {alloc_id} no longer runs on this node")
            }
            GcReason::NodeGone { node, since } => {
                write!(f, "node {node} down or absent since {since}")
            }
            GcReason::JobGone { task } => {
                write!(f, "job {}/{} is gone or stopped", task.namespace, task.job)
            }
            GcReason::RolloutExpired { finished_at } => {
                write!(f, "rollout complete since {finished_at}")
            }
        }
    }
}

/// One key a pass deletes, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcDeletion {
    /// The key (full).
    pub key: String,
    /// What kind of key it is.
    pub kind: KeyKind,
    /// The `ModifyIndex` the delete is conditional on.
    pub cas: u64,
    /// Why.
    #[serde(flatten)]
    pub reason: GcReason,
}

/// The outcome of a pass: the decision (a `DeleteKey` per deletion, problems, requeue) and
/// the deletions with their reasons, in the same order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcDecision {
    /// Actions and requeue.
    pub decision: Decision,
    /// The deletions, with reasons.
    pub deletions: Vec<GcDeletion>,
}
