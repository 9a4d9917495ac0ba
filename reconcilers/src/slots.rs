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

    /// The lowest free slot below `max_parallel` for `alloc_id`, if fewer than `max_parallel`
    /// slots are occupied (counting slots above a lowered `max_parallel` too).
    pub fn free_slot(&self, alloc_id: &str, max_parallel: u32) -> Option<u32> {
        let occupied = self.occupied_for(alloc_id);
        if occupied.len() >= max_parallel as usize {
            return None;
        }
        (0..max_parallel).find(|n| !occupied.contains(n))
    }

    /// Whether `alloc_id` may restart on slot `n`, which its session holds: nobody else claims
    /// it and the other occupied slots leave room under `max_parallel`.
    pub fn may_trigger_on(&self, n: u32, alloc_id: &str, max_parallel: u32) -> bool {
        let mut others = self.occupied_for(alloc_id);
        others.remove(&n);
        !self.claimed_by_other(n, alloc_id) && others.len() < max_parallel as usize
    }
}
