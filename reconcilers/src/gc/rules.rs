//! The rules of a GC pass, key by key: what is kept, what is kept until when, and what is
//! deleted and why (see the module doc of [`crate::gc`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{GcAlloc, GcObservation, GcPass, GcReason, GcScope, NodeStatus};
use crate::context::Context;
use crate::keys::{self, Key, TriggerKey};
use crate::model::{AllocRecord, KvEntry, RolloutRecord, RolloutState, SlotHolder, TaskId};
use crate::time::Timestamp;

/// Added to a period counted from a time another host stamped (a Nomad server's node
/// `StatusUpdatedAt`, the `finished_at` of whichever agent or operator finished a rollout)
/// before it is compared with this agent's clock: hosts whose clocks disagree by less never
/// delete early. NTP keeps hosts within a second of each other; this covers one that has lost
/// its time source for a while. A tenth of the period, at most this: nothing against day-long
/// periods, and short ones (in tests, say) stay short.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(10 * 60);

/// `period` plus the allowance for another host's clock (see [`CLOCK_SKEW_ALLOWANCE`]).
fn with_skew_allowance(period: Duration) -> Duration {
    period + (period / 10).min(CLOCK_SKEW_ALLOWANCE)
}

pub(super) enum Verdict {
    Keep,
    KeepUntil(Timestamp),
    Delete(GcReason),
}

pub(super) struct Gc<'o> {
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
    pub(super) fn new(
        obs: &'o GcObservation<'o>,
        pass: &'o GcPass,
        ctx: &'o Context,
        now: Timestamp,
    ) -> Self {
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

    pub(super) fn verdict(&self, key: &str, entry: &KvEntry, parsed: &Key) -> Verdict {
        if !self.cluster() {
            match parsed {
                Key::Trigger(t) if t.node() == self.ctx.node => {}
                Key::State { node, .. } if *node == self.ctx.node => {}
                _ => return Verdict::Keep,
            }
        }
        match parsed {
            Key::Trigger(trigger) => {
                let relative = &key[self.ctx.prefix.as_str().len()..];
                if self.trigger_is_live(relative, trigger) {
                    Verdict::Keep
                } else {
                    self.node_scoped(trigger.node(), GcReason::TriggerUnused)
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

    /// Whether a live allocation could be the one a trigger key is for: deleting a key a live
    /// template reads would restart its task. An alloc-ID key names its allocation (live on any
    /// node). A legacy key is matched on its text the way the template builds it, never on the
    /// parse, as raw names may hold `/`.
    fn trigger_is_live(&self, relative: &str, trigger: &TriggerKey) -> bool {
        if let TriggerKey::AllocId { alloc_id, .. } = trigger {
            return self
                .allocs
                .get(alloc_id.as_str())
                .is_some_and(|a| a.status.is_live());
        }
        self.live_by_node.get(trigger.node()).is_some_and(|allocs| {
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
        // `Down` is dated by a Nomad server's clock; the others by this agent's own.
        let (gone_since, other_clock) = match listed {
            None => (self.obs.nodes_listed_since, false),
            Some(n) if n.status == NodeStatus::Down => (n.since, true),
            Some(n) if n.status == NodeStatus::Absent => (n.since, false),
            Some(_) => return Verdict::Keep,
        };
        let timeout = self.ctx.node_cleanup_timeout;
        let gone_at = gone_since.plus(if other_clock {
            with_skew_allowance(timeout)
        } else {
            timeout
        });
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
        // Stamped by whichever host finished the rollout.
        let finished_at = record.finished_at.unwrap_or(record.updated_at);
        let expires_at = finished_at.plus(with_skew_allowance(history));
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
