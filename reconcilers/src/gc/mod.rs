//! The GC reconciler: CAS deletes of keys whose allocation, job or node is gone (the key layout in the README).
//! Concurrent runs are safe because every delete is a CAS on the index read; the scope of a
//! pass (see [`GcScope`] and [`lead`]) only keeps 500 agents from racing for the same
//! cluster-wide keys.
//!
//! - A held key (a live session's lock or registration) is never deleted, nor the GC lock.
//! - A key naming a live allocation is never deleted, whatever its node's state.
//! - `keys/` (either layout) and `state/` of this node: deleted when their allocation is gone
//!   (for a legacy trigger key: no live allocation of the node has its job, group and index);
//!   this agent has the freshest view of its own node's allocations. A record whose allocation
//!   still claims or holds a slot is kept until the task reconciler has given the slot back. Of
//!   another node: only once that node has been down or absent for `node_cleanup_timeout`.
//!   `agents/<node>` likewise.
//! - `rollouts/` and `locks/` of a task: deleted when its job is gone (not listed, or stopped
//!   with no live allocation); a `complete` rollout also once it is older than
//!   `rollout_history` (an `aborted` one stays: it keeps old drift from starting a rollout).
//! - A key outside the prefix or not matching the layout is reported, never deleted.

pub mod lead;
mod reason;
mod rules;

pub use rules::CLOCK_SKEW_ALLOWANCE;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use reason::{GcDecision, GcDeletion, GcReason};
use rules::{Gc, Verdict};

use crate::action::{Action, Decision, ProblemKind};
use crate::context::Context;
use crate::keys::{self, KeyError};
use crate::model::{AllocStatus, KvView};
use crate::time::Timestamp;

/// One allocation as Nomad lists it (any node, any namespace, terminal ones included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcAlloc {
    /// Allocation ID.
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// Job ID.
    pub job_id: String,
    /// Job name (`NOMAD_JOB_NAME`, used by trigger keys).
    pub job_name: String,
    /// Task group.
    pub group: String,
    /// Allocation index.
    pub index: u32,
    /// Node name.
    pub node: String,
    /// Status.
    pub status: AllocStatus,
}

/// One job as Nomad lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcJob {
    /// Namespace.
    pub namespace: String,
    /// Job ID.
    pub id: String,
    /// `Stop`: the job was stopped.
    pub stop: bool,
}

/// A node's status for GC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Registering.
    Initializing,
    /// Up.
    Ready,
    /// Missed its heartbeats.
    Down,
    /// Disconnected (may come back; not treated as gone).
    Disconnected,
    /// No longer listed by Nomad.
    Absent,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcNode {
    /// Node name.
    pub name: String,
    /// Status.
    pub status: NodeStatus,
    /// Since when it has had that status (`StatusUpdatedAt`, or when the agent saw it vanish).
    pub since: Timestamp,
}

/// Everything GC looks at.
#[derive(Clone, Debug)]
pub struct GcObservation<'a> {
    /// The KV listing under the prefix.
    pub kv: &'a KvView,
    /// Every allocation Nomad lists (for a [`GcScope::Node`] pass, this node's suffice).
    pub allocs: Vec<GcAlloc>,
    /// Every job Nomad lists (all namespaces; unused by a [`GcScope::Node`] pass).
    pub jobs: Vec<GcJob>,
    /// Every node Nomad lists, plus any the agent saw vanish (as `Absent`).
    pub nodes: Vec<GcNode>,
    /// Since when the node listing has been complete: a node never listed counts as absent
    /// since then.
    pub nodes_listed_since: Timestamp,
}

/// Which keys a pass looks after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GcScope {
    /// This node's `keys/` and `state/` entries only: what every agent does.
    Node,
    /// Every key: what the holder of the GC lock (and `shepard gc`) does.
    Cluster,
}

/// The settings of one pass beyond the agent's context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcPass {
    /// Which keys the pass looks after.
    pub scope: GcScope,
    /// How long a `complete` rollout record is kept after it finished (`None`: forever).
    pub rollout_history: Option<Duration>,
}

/// Decides which keys to delete over the whole listing, keeping every rollout record of a
/// live job ([`GcScope::Cluster`], no `rollout_history`).
pub fn reconcile_gc(obs: &GcObservation<'_>, ctx: &Context, now: Timestamp) -> Decision {
    let pass = GcPass {
        scope: GcScope::Cluster,
        rollout_history: None,
    };
    reconcile_gc_pass(obs, &pass, ctx, now).decision
}

/// Decides which keys one pass deletes, and why.
pub fn reconcile_gc_pass(
    obs: &GcObservation<'_>,
    pass: &GcPass,
    ctx: &Context,
    now: Timestamp,
) -> GcDecision {
    let mut out = GcDecision::default();
    let gc = Gc::new(obs, pass, ctx, now);
    let lock_key = lead::lock_key(&ctx.prefix);
    for (key, entry) in obs.kv {
        if *key == lock_key {
            continue;
        }
        let parsed = match keys::parse(&ctx.prefix, key) {
            Ok(parsed) => parsed,
            Err(KeyError::OutsidePrefix(_)) => {
                out.decision.problem(
                    ProblemKind::KeyOutsidePrefix,
                    key,
                    "not under the prefix; ignored",
                );
                continue;
            }
            Err(e @ KeyError::Unrecognised(_)) => {
                out.decision
                    .problem(ProblemKind::UnknownKey, key, format!("{e}; left alone"));
                continue;
            }
        };
        if entry.session.is_some() {
            continue;
        }
        match gc.verdict(key, entry, &parsed) {
            Verdict::Keep => {}
            Verdict::KeepUntil(at) => out.decision.requeue(at.since(now)),
            Verdict::Delete(reason) => {
                let kind = parsed.kind();
                out.decision.push(Action::DeleteKey {
                    key: key.clone(),
                    cas: entry.modify_index,
                    kind,
                });
                out.deletions.push(GcDeletion {
                    key: key.clone(),
                    kind,
                    cas: entry.modify_index,
                    reason,
                });
            }
        }
    }
    out
}
