//! The GC reconciler: CAS deletes of keys whose allocation, job or node is gone (DESIGN §3).
//! Concurrent runs are safe because every delete is a CAS on the index read; the scope of a
//! pass (see [`GcScope`] and [`crate::gc_lead`]) only keeps 500 agents from racing for the same
//! cluster-wide keys.
//!
//! - A held key (a live session's lock or registration) is never deleted, nor the GC lock.
//! - A key naming a live allocation is never deleted, whatever its node's state.
//! - `keys/` and `state/` of this node: deleted when their allocation is gone; this agent has
//!   the freshest view of its own node's allocations. A record whose allocation still claims
//!   or holds a slot is kept until the task reconciler has given the slot back. Of another
//!   node: only once that node has been down or absent for `node_cleanup_timeout`.
//!   `agents/<node>` likewise.
//! - `rollouts/` and `locks/` of a task: deleted when its job is gone (not listed, or stopped
//!   with no live allocation); a `complete` rollout also once it is older than
//!   `rollout_history` (an `aborted` one stays: it keeps old drift from starting a rollout).
//! - A key outside the prefix or not matching the layout is reported, never deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::action::{Action, Decision, ProblemKind};
use crate::context::Context;
use crate::gc_lead;
use crate::keys::{self, Key, KeyError, KeyKind};
use crate::model::{
    AllocRecord, AllocStatus, KvEntry, KvView, RolloutRecord, RolloutState, SlotHolder, TaskId,
};
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

/// Why a key is deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum GcReason {
    /// No live allocation on this node has the trigger key's job, group and index.
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
    let lock_key = gc_lead::lock_key(&ctx.prefix);
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

enum Verdict {
    Keep,
    KeepUntil(Timestamp),
    Delete(GcReason),
}

struct Gc<'o> {
    ctx: &'o Context,
    pass: &'o GcPass,
    now: Timestamp,
    live_by_node: BTreeMap<&'o str, Vec<&'o GcAlloc>>,
    allocs: BTreeMap<&'o str, &'o GcAlloc>,
    /// Allocations named by a held slot lock: their records stay until the slot is released.
    holding_slots: BTreeSet<String>,
    obs: &'o GcObservation<'o>,
}

impl<'o> Gc<'o> {
    fn new(obs: &'o GcObservation<'o>, pass: &'o GcPass, ctx: &'o Context, now: Timestamp) -> Self {
        let mut live_by_node: BTreeMap<&str, Vec<&GcAlloc>> = BTreeMap::new();
        for alloc in obs.allocs.iter().filter(|a| a.status.is_live()) {
            live_by_node
                .entry(alloc.node.as_str())
                .or_default()
                .push(alloc);
        }
        // A live listing wins over a terminal one of the same allocation (two sources).
        let mut allocs: BTreeMap<&str, &GcAlloc> = BTreeMap::new();
        for alloc in &obs.allocs {
            let entry = allocs.entry(alloc.id.as_str()).or_insert(alloc);
            if alloc.status.is_live() {
                *entry = alloc;
            }
        }
        let holding_slots = obs
            .kv
            .iter()
            .filter(|(key, entry)| {
                entry.session.is_some()
                    && matches!(keys::parse(&ctx.prefix, key), Ok(Key::Slot(..)))
            })
            .filter_map(|(_, entry)| {
                serde_json::from_str::<SlotHolder>(entry.value.as_deref()?).ok()
            })
            .map(|holder| holder.alloc_id)
            .collect();
        Gc {
            ctx,
            pass,
            now,
            live_by_node,
            allocs,
            holding_slots,
            obs,
        }
    }

    fn cluster(&self) -> bool {
        self.pass.scope == GcScope::Cluster
    }

    fn verdict(&self, key: &str, entry: &KvEntry, parsed: &Key) -> Verdict {
        if !self.cluster() {
            match parsed {
                Key::Trigger { node, .. } | Key::State { node, .. } if *node == self.ctx.node => {}
                _ => return Verdict::Keep,
            }
        }
        match parsed {
            Key::Trigger { node, .. } => {
                let relative = &key[self.ctx.prefix.as_str().len()..];
                if self.trigger_is_live(relative, node) {
                    Verdict::Keep
                } else {
                    self.node_scoped(node, GcReason::TriggerUnused)
                }
            }
            Key::State { node, alloc_id, .. } => {
                let live = self
                    .allocs
                    .get(alloc_id.as_str())
                    .is_some_and(|a| a.status.is_live());
                if live || (node == &self.ctx.node && self.slot_in_use(alloc_id, entry)) {
                    Verdict::Keep
                } else {
                    let alloc_id = alloc_id.clone();
                    self.node_scoped(node, GcReason::AllocGone { alloc_id })
                }
            }
            Key::Agent { node } if node == &self.ctx.node => Verdict::Keep,
            Key::Agent { node } if self.cluster() => self.other_node(node),
            Key::Rollout(task) | Key::TaskLock(task) | Key::Slot(task, _) if self.cluster() => {
                if self.job_gone(task) {
                    Verdict::Delete(GcReason::JobGone { task: task.clone() })
                } else if matches!(parsed, Key::Rollout(_)) {
                    self.rollout_history(entry)
                } else {
                    Verdict::Keep
                }
            }
            Key::Agent { .. } | Key::Rollout(_) | Key::TaskLock(_) | Key::Slot(..) => Verdict::Keep,
        }
    }

    /// Whether a live allocation could be the one a trigger key is for. Raw names may hold `/`,
    /// so this matches the key's text the way the template builds it, never the parse.
    fn trigger_is_live(&self, relative: &str, node: &str) -> bool {
        self.live_by_node.get(node).is_some_and(|allocs| {
            allocs.iter().any(|a| {
                relative.starts_with(&format!("keys/{}/{}/{}/", a.node, a.job_name, a.group))
                    && relative.ends_with(&format!("/{}", a.index))
            })
        })
    }

    /// The allocation of a record of this node still claims a slot (its record says so) or
    /// holds one (a held lock names it): its task reconciler, which this record keeps
    /// enqueued, gives the slot back first.
    fn slot_in_use(&self, alloc_id: &str, entry: &KvEntry) -> bool {
        let claims = entry
            .value
            .as_deref()
            .and_then(|v| AllocRecord::from_json(v).ok())
            .is_some_and(|r| r.claimed_slot().is_some());
        claims || self.holding_slots.contains(alloc_id)
    }

    /// A key of a node whose allocation is gone: this node's own is deleted at once, another
    /// node's only once that node is gone for good (and only by a cluster pass).
    fn node_scoped(&self, node: &str, own: GcReason) -> Verdict {
        if node == self.ctx.node {
            Verdict::Delete(own)
        } else if self.cluster() {
            self.other_node(node)
        } else {
            Verdict::Keep
        }
    }

    fn other_node(&self, node: &str) -> Verdict {
        let listed = self.obs.nodes.iter().find(|n| n.name == node);
        let gone_since = match listed {
            None => self.obs.nodes_listed_since,
            Some(n) if matches!(n.status, NodeStatus::Down | NodeStatus::Absent) => n.since,
            Some(_) => return Verdict::Keep,
        };
        let gone_at = gone_since.plus(self.ctx.node_cleanup_timeout);
        if gone_at <= self.now {
            Verdict::Delete(GcReason::NodeGone {
                node: node.to_owned(),
                since: gone_since,
            })
        } else {
            Verdict::KeepUntil(gone_at)
        }
    }

    /// A `complete` rollout of a live job: kept for `rollout_history` after it finished.
    fn rollout_history(&self, entry: &KvEntry) -> Verdict {
        let Some(history) = self.pass.rollout_history else {
            return Verdict::Keep;
        };
        let record = entry
            .value
            .as_deref()
            .and_then(|v| RolloutRecord::from_json(v).ok());
        let Some(record) = record.filter(|r| r.state == RolloutState::Complete) else {
            return Verdict::Keep;
        };
        let finished_at = record.finished_at.unwrap_or(record.updated_at);
        let expires_at = finished_at.plus(history);
        if expires_at <= self.now {
            Verdict::Delete(GcReason::RolloutExpired { finished_at })
        } else {
            Verdict::KeepUntil(expires_at)
        }
    }

    fn job_gone(&self, task: &TaskId) -> bool {
        let job = self
            .obs
            .jobs
            .iter()
            .find(|j| j.namespace == task.namespace && j.id == task.job);
        match job {
            None => true,
            Some(job) => {
                job.stop
                    && !self.obs.allocs.iter().any(|a| {
                        a.namespace == task.namespace && a.job_id == task.job && a.status.is_live()
                    })
            }
        }
    }
}
