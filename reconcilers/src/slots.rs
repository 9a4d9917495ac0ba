//! The restart slots of one task, as seen in one KV listing: which slot locks are held and by
//! whom, and which slots in-flight allocation records claim. A slot is *occupied* when its lock
//! is held or a record claims it; claims keep a slot taken while a crashed agent's restart is
//! still in flight after its session (and so its lock) is gone.

use std::collections::{BTreeMap, BTreeSet};

use crate::keys::{self, Key, Prefix};
use crate::model::{AllocRecord, KvView, SessionId, SlotHolder, TaskId};

/// One slot lock key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotLock {
    /// Full key.
    pub key: String,
    /// Holding session.
    pub session: Option<SessionId>,
    /// Parsed value, if it names a holder.
    pub holder: Option<SlotHolder>,
}

/// An in-flight record's claim on a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The claiming allocation.
    pub alloc_id: String,
    /// The claimed slot.
    pub slot: u32,
}

/// All slots of a task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotTable {
    /// Slot locks present in KV, by number.
    pub locks: BTreeMap<u32, SlotLock>,
    /// Claims of in-flight records of the task.
    pub claims: Vec<Claim>,
}

impl SlotTable {
    /// Reads the slots of `task` from a KV listing.
    pub fn observe(kv: &KvView, prefix: &Prefix, task: &TaskId) -> Self {
        let dir = keys::slot_dir(prefix, task);
        let mut locks = BTreeMap::new();
        for (key, entry) in kv
            .range(dir.clone()..)
            .take_while(|(k, _)| k.starts_with(&dir))
        {
            let Ok(Key::Slot(_, n)) = keys::parse(prefix, key) else {
                continue;
            };
            let holder = entry
                .value
                .as_deref()
                .and_then(|v| serde_json::from_str(v).ok());
            locks.insert(
                n,
                SlotLock {
                    key: key.clone(),
                    session: entry.session.clone(),
                    holder,
                },
            );
        }
        let state_dir = format!("{}state/", prefix.as_str());
        let task_segment = format!("/{}", keys::escape(&task.task));
        let mut claims = Vec::new();
        for (key, entry) in kv
            .range(state_dir.clone()..)
            .take_while(|(k, _)| k.starts_with(&state_dir))
        {
            // Cheap filter before parsing JSON: the key ends in the task name.
            if !key.ends_with(&task_segment) {
                continue;
            }
            let Some(record) = entry
                .value
                .as_deref()
                .and_then(|v| AllocRecord::from_json(v).ok())
            else {
                continue;
            };
            let Ok(Key::State { alloc_id, .. }) = keys::parse(prefix, key) else {
                continue;
            };
            if record.task == *task
                && let Some(slot) = record.claimed_slot()
            {
                claims.push(Claim { alloc_id, slot });
            }
        }
        SlotTable { locks, claims }
    }

    /// Slots whose lock `session` holds for `alloc_id`, lowest first.
    pub fn held_for(&self, session: &SessionId, alloc_id: &str) -> Vec<u32> {
        self.locks
            .iter()
            .filter(|(_, l)| {
                l.session.as_ref() == Some(session)
                    && l.holder.as_ref().is_some_and(|h| h.alloc_id == alloc_id)
            })
            .map(|(n, _)| *n)
            .collect()
    }

    /// Whether slot `n`'s lock is held by anyone.
    pub fn is_held(&self, n: u32) -> bool {
        self.locks.get(&n).is_some_and(|l| l.session.is_some())
    }

    /// Whether another allocation's in-flight record claims slot `n`.
    pub fn claimed_by_other(&self, n: u32, alloc_id: &str) -> bool {
        self.claims
            .iter()
            .any(|c| c.slot == n && c.alloc_id != alloc_id)
    }

    /// Slots occupied by anything but `alloc_id`'s own claim: held locks and others' claims.
    pub fn occupied_for(&self, alloc_id: &str) -> BTreeSet<u32> {
        let held = self
            .locks
            .iter()
            .filter(|(_, l)| l.session.is_some())
            .map(|(n, _)| *n);
        let claimed = self
            .claims
            .iter()
            .filter(|c| c.alloc_id != alloc_id)
            .map(|c| c.slot);
        held.chain(claimed).collect()
    }

    /// A free slot below `max_parallel` for `alloc_id`, if fewer than `max_parallel` slots are
    /// occupied (counting slots above a lowered `max_parallel` too). The search starts at a
    /// slot derived from the allocation ID and wraps around: allocations that see the same
    /// free slots at the same moment (every drifted allocation, when a rollout starts or a slot
    /// frees up) spread over them instead of all racing for the lowest, where all but one
    /// would be refused and have to try again.
    pub fn free_slot(&self, alloc_id: &str, max_parallel: u32) -> Option<u32> {
        let occupied = self.occupied_for(alloc_id);
        if occupied.len() >= max_parallel as usize || max_parallel == 0 {
            return None;
        }
        let start = fnv1a(alloc_id.as_bytes()) % u64::from(max_parallel);
        (0..u64::from(max_parallel))
            .filter_map(|k| u32::try_from((start + k) % u64::from(max_parallel)).ok())
            .find(|n| !occupied.contains(n))
    }

    /// Whether `alloc_id` may restart on slot `n`, which its session holds: nobody else claims
    /// it and the other occupied slots leave room under `max_parallel`.
    pub fn may_trigger_on(&self, n: u32, alloc_id: &str, max_parallel: u32) -> bool {
        let mut others = self.occupied_for(alloc_id);
        others.remove(&n);
        !self.claimed_by_other(n, alloc_id) && others.len() < max_parallel as usize
    }
}

/// FNV-1a: a stable hash (the same on every agent and every build), unlike `std`'s hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(slots: &[u32]) -> SlotTable {
        SlotTable {
            locks: BTreeMap::new(),
            claims: slots
                .iter()
                .map(|&slot| Claim {
                    alloc_id: format!("other-{slot}"),
                    slot,
                })
                .collect(),
        }
    }

    #[test]
    fn allocations_starting_together_spread_over_the_free_slots() {
        let table = SlotTable::default();
        let chosen: BTreeSet<u32> = (0..30)
            .filter_map(|i| table.free_slot(&format!("alloc-{i}"), 3))
            .collect();
        assert_eq!(chosen, BTreeSet::from([0, 1, 2]));
    }

    #[test]
    fn the_search_wraps_around_to_the_one_free_slot() {
        let table = claims(&[0, 2]);
        for i in 0..30 {
            assert_eq!(table.free_slot(&format!("alloc-{i}"), 3), Some(1));
        }
    }

    #[test]
    fn no_slot_when_max_parallel_are_occupied_even_above_a_lowered_limit() {
        assert_eq!(claims(&[0, 1, 2]).free_slot("a1", 3), None);
        assert_eq!(claims(&[3, 4]).free_slot("a1", 2), None);
        assert_eq!(SlotTable::default().free_slot("a1", 0), None);
    }
}
