//! What the operator commands show, read from one KV listing of the prefix: per task, its
//! rollout record and the records of its allocations (`state/<node>/<alloc>/<task>`), with the
//! rollout's progress. Keys that do not parse or hold invalid JSON are kept as `unreadable`
//! so the commands can say so instead of hiding them.

use std::collections::BTreeMap;

use serde::Serialize;
use shepard_reconcilers::keys::parse;
use shepard_reconcilers::model::{AllocRecord, Phase, RolloutRecord, RolloutState, TaskId};
use shepard_reconcilers::{Key, Prefix};

use super::transition::StuckAlloc;
use crate::consul::KvPair;

/// A rollout record as stored.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutEntry {
    /// Its full key.
    pub key: String,
    /// Its ModifyIndex (the CAS index of a change).
    pub modify_index: u64,
    pub record: RolloutRecord,
}

/// One allocation's record as stored.
#[derive(Clone, Debug, Serialize)]
pub struct AllocEntry {
    /// Node name (from the key).
    pub node: String,
    /// Allocation ID (from the key).
    pub alloc_id: String,
    /// Its full key.
    pub key: String,
    pub modify_index: u64,
    pub record: AllocRecord,
}

/// How far a task's allocations are: counts by phase. Stopped allocations are not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Live allocations with a record.
    pub total: u32,
    /// Running the configuration rendered for them.
    pub in_sync: u32,
    /// Drifted, waiting for the rollout or a slot.
    pub waiting: u32,
    /// Triggered, restarted or verifying.
    pub restarting: u32,
    /// Missed their deadline.
    pub stuck: u32,
    /// Drifted allocations the rollout goes on without.
    pub skipped: u32,
}

/// One task: its rollout (if any) and its allocations, sorted by index.
#[derive(Clone, Debug, Serialize)]
pub struct TaskView {
    pub task: TaskId,
    pub rollout: Option<RolloutEntry>,
    pub progress: Progress,
    pub allocs: Vec<AllocEntry>,
}

/// A key under the prefix that the commands could not read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    pub key: String,
    pub error: String,
}

/// Every task with a rollout record or an allocation record, sorted by task.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClusterView {
    pub tasks: Vec<TaskView>,
    pub unreadable: Vec<Unreadable>,
}

impl ClusterView {
    /// The view of a recursive listing of `prefix`.
    pub fn from_pairs(prefix: &Prefix, pairs: &[KvPair]) -> Self {
        let mut rollouts: BTreeMap<TaskId, RolloutEntry> = BTreeMap::new();
        let mut allocs: BTreeMap<TaskId, Vec<AllocEntry>> = BTreeMap::new();
        let mut unreadable = Vec::new();
        for pair in pairs {
            let Ok(key) = parse(prefix, &pair.key) else {
                continue;
            };
            let text = String::from_utf8_lossy(&pair.value);
            let bad = |error: String| Unreadable {
                key: pair.key.clone(),
                error,
            };
            match key {
                Key::Rollout(task) => match RolloutRecord::from_json(&text) {
                    Ok(record) => {
                        let entry = RolloutEntry {
                            key: pair.key.clone(),
                            modify_index: pair.modify_index,
                            record,
                        };
                        rollouts.insert(task, entry);
                    }
                    Err(e) => unreadable.push(bad(e.to_string())),
                },
                Key::State { node, alloc_id, .. } => match AllocRecord::from_json(&text) {
                    Ok(record) => allocs
                        .entry(record.task.clone())
                        .or_default()
                        .push(AllocEntry {
                            node,
                            alloc_id,
                            key: pair.key.clone(),
                            modify_index: pair.modify_index,
                            record,
                        }),
                    Err(e) => unreadable.push(bad(e.to_string())),
                },
                _ => {}
            }
        }
        let mut tasks: BTreeMap<TaskId, TaskView> = BTreeMap::new();
        for (task, rollout) in rollouts {
            tasks.insert(task.clone(), TaskView::new(task, Some(rollout), Vec::new()));
        }
        for (task, mut entries) in allocs {
            entries.sort_by(|a, b| {
                (a.record.alloc_index, &a.node, &a.alloc_id).cmp(&(
                    b.record.alloc_index,
                    &b.node,
                    &b.alloc_id,
                ))
            });
            let view = tasks
                .remove(&task)
                .unwrap_or_else(|| TaskView::new(task.clone(), None, Vec::new()));
            tasks.insert(task.clone(), TaskView::new(task, view.rollout, entries));
        }
        ClusterView {
            tasks: tasks.into_values().collect(),
            unreadable,
        }
    }

    /// The view of one task.
    pub fn task(&self, task: &TaskId) -> Option<&TaskView> {
        self.tasks.iter().find(|t| t.task == *task)
    }

    /// The task whose current rollout has ID `id`.
    pub fn by_rollout_id(&self, id: &str) -> Option<&TaskView> {
        self.tasks
            .iter()
            .find(|t| t.rollout.as_ref().is_some_and(|r| r.record.id == id))
    }
}

impl TaskView {
    fn new(task: TaskId, rollout: Option<RolloutEntry>, allocs: Vec<AllocEntry>) -> Self {
        let progress = Progress::of(rollout.as_ref().map(|r| &r.record), &allocs);
        TaskView {
            task,
            rollout,
            progress,
            allocs,
        }
    }

    /// The rollout's state, if there is a rollout.
    pub fn state(&self) -> Option<RolloutState> {
        self.rollout.as_ref().map(|r| r.record.state)
    }

    /// The allocations whose restart is stuck and that the rollout does not skip yet.
    pub fn stuck_allocs(&self) -> Vec<StuckAlloc> {
        let rollout = self.rollout.as_ref().map(|r| &r.record);
        self.allocs
            .iter()
            .filter(|a| a.record.phase == Phase::Stuck)
            .filter(|a| !rollout.is_some_and(|r| r.skips(&a.alloc_id, &a.record.target)))
            .map(|a| StuckAlloc {
                alloc_id: a.alloc_id.clone(),
                target: a.record.target.clone(),
            })
            .collect()
    }
}

impl Progress {
    fn of(rollout: Option<&RolloutRecord>, allocs: &[AllocEntry]) -> Self {
        let mut counts = Progress::default();
        for alloc in allocs {
            let skipped = rollout.is_some_and(|r| r.skips(&alloc.alloc_id, &alloc.record.target));
            let phase = alloc.record.phase;
            let count = match phase {
                Phase::Stopped => continue,
                Phase::InSync => &mut counts.in_sync,
                p if p.drifted() && skipped => &mut counts.skipped,
                p if p.drifted() => &mut counts.waiting,
                Phase::Stuck => &mut counts.stuck,
                _ => &mut counts.restarting,
            };
            *count += 1;
            counts.total += 1;
        }
        counts
    }

    /// `[#####-----]`: the share of allocations in sync, `width` characters wide.
    pub fn bar(&self, width: usize) -> String {
        let total = self.total.max(1) as usize;
        let done = (self.in_sync as usize * width).div_euclid(total).min(width);
        format!("[{}{}]", "#".repeat(done), "-".repeat(width - done))
    }

    /// `3/6 in sync, 2 restarting, 1 waiting` (zero counts left out, except in sync).
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{}/{} in sync", self.in_sync, self.total)];
        for (n, what) in [
            (self.restarting, "restarting"),
            (self.waiting, "waiting"),
            (self.stuck, "stuck"),
            (self.skipped, "skipped"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        parts.join(", ")
    }
}

/// The first 8 characters of an allocation ID, as Nomad's CLI shows them.
pub fn short_id(alloc_id: &str) -> &str {
    alloc_id.get(..8).unwrap_or(alloc_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_by_share_in_sync() {
        let p = Progress {
            total: 6,
            in_sync: 3,
            restarting: 2,
            waiting: 1,
            ..Progress::default()
        };
        assert_eq!(p.bar(10), "[#####-----]");
        assert_eq!(p.summary(), "3/6 in sync, 2 restarting, 1 waiting");
        assert_eq!(Progress::default().bar(4), "[----]");
    }

    #[test]
    fn short_ids_keep_short_ones_whole() {
        assert_eq!(short_id("0f3c2a1b-aaaa"), "0f3c2a1b");
        assert_eq!(short_id("a1"), "a1");
    }
}
