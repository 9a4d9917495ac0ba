//! The GC reconciler: CAS deletes of keys whose allocation, job or node is gone (DESIGN §3).
//! Run by every agent over the whole listing; concurrent runs are safe because every delete is
//! a CAS on the index read.
//!
//! - A held key (a live session's lock or registration) is never deleted.
//! - A key naming a live allocation is never deleted, whatever its node's state.
//! - `keys/` and `state/` of this node: deleted when their allocation is gone; this agent has
//!   the freshest view of its own node's allocations. Of another node: only once that node has
//!   been down or absent for `node_cleanup_timeout`. `agents/<node>` likewise.
//! - `rollouts/` and `locks/` of a task: deleted when its job is gone (not listed, or stopped
//!   with no live allocation).
//! - A key outside the prefix or not matching the layout is reported, never deleted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::action::{Action, Decision, ProblemKind};
use crate::context::Context;
use crate::keys::{self, Key, KeyError};
use crate::model::{AllocStatus, KvView, TaskId};
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
    /// Every allocation Nomad lists.
    pub allocs: Vec<GcAlloc>,
    /// Every job Nomad lists (all namespaces).
    pub jobs: Vec<GcJob>,
    /// Every node Nomad lists, plus any the agent saw vanish (as `Absent`).
    pub nodes: Vec<GcNode>,
    /// Since when the node listing has been complete: a node never listed counts as absent
    /// since then.
    pub nodes_listed_since: Timestamp,
}

/// Decides which keys to delete.
pub fn reconcile_gc(obs: &GcObservation<'_>, ctx: &Context, now: Timestamp) -> Decision {
    let mut decision = Decision::default();
    let gc = Gc::new(obs, ctx, now);
    for (key, entry) in obs.kv {
        let parsed = match keys::parse(&ctx.prefix, key) {
            Ok(parsed) => parsed,
            Err(KeyError::OutsidePrefix(_)) => {
                decision.problem(
                    ProblemKind::KeyOutsidePrefix,
                    key,
                    "not under the prefix; ignored",
                );
                continue;
            }
            Err(e @ KeyError::Unrecognised(_)) => {
                decision.problem(ProblemKind::UnknownKey, key, format!("{e}; left alone"));
                continue;
            }
        };
        if entry.session.is_some() {
            continue;
        }
        match gc.verdict(key, &parsed) {
            Verdict::Keep => {}
            Verdict::KeepUntil(at) => decision.requeue(at.since(now)),
            Verdict::Delete => decision.push(Action::DeleteKey {
                key: key.clone(),
                cas: entry.modify_index,
                kind: parsed.kind(),
            }),
        }
    }
    decision
}

enum Verdict {
    Keep,
    KeepUntil(Timestamp),
    Delete,
}

struct Gc<'o> {
    ctx: &'o Context,
    now: Timestamp,
    live_by_node: BTreeMap<&'o str, Vec<&'o crate::gc::GcAlloc>>,
    allocs: BTreeMap<&'o str, &'o GcAlloc>,
    obs: &'o GcObservation<'o>,
}

impl<'o> Gc<'o> {
    fn new(obs: &'o GcObservation<'o>, ctx: &'o Context, now: Timestamp) -> Self {
        let mut live_by_node: BTreeMap<&str, Vec<&GcAlloc>> = BTreeMap::new();
        for alloc in obs.allocs.iter().filter(|a| a.status.is_live()) {
            live_by_node
                .entry(alloc.node.as_str())
                .or_default()
                .push(alloc);
        }
        let allocs = obs.allocs.iter().map(|a| (a.id.as_str(), a)).collect();
        Gc {
            ctx,
            now,
            live_by_node,
            allocs,
            obs,
        }
    }

    fn verdict(&self, key: &str, parsed: &Key) -> Verdict {
        match parsed {
            Key::Trigger { node, .. } => {
                let relative = &key[self.ctx.prefix.as_str().len()..];
                if self.trigger_is_live(relative, node) {
                    Verdict::Keep
                } else {
                    self.node_scoped(node)
                }
            }
            Key::State { node, alloc_id, .. } => {
                if self
                    .allocs
                    .get(alloc_id.as_str())
                    .is_some_and(|a| a.status.is_live())
                {
                    Verdict::Keep
                } else {
                    self.node_scoped(node)
                }
            }
            Key::Agent { node } if node == &self.ctx.node => Verdict::Keep,
            Key::Agent { node } => self.node_scoped(node),
            Key::Rollout(task) | Key::TaskLock(task) | Key::Slot(task, _) => {
                if self.job_gone(task) {
                    Verdict::Delete
                } else {
                    Verdict::Keep
                }
            }
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

    /// A key of a node whose allocation is gone: this node's own is deleted at once, another
    /// node's only once that node is gone for good.
    fn node_scoped(&self, node: &str) -> Verdict {
        if node == self.ctx.node {
            return Verdict::Delete;
        }
        let listed = self.obs.nodes.iter().find(|n| n.name == node);
        let gone_since = match listed {
            None => self.obs.nodes_listed_since,
            Some(n) if matches!(n.status, NodeStatus::Down | NodeStatus::Absent) => n.since,
            Some(_) => return Verdict::Keep,
        };
        let gone_at = gone_since.plus(self.ctx.node_cleanup_timeout);
        if gone_at <= self.now {
            Verdict::Delete
        } else {
            Verdict::KeepUntil(gone_at)
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
