//! Deletes this agent made that its KV view does not show yet. The KV watch may deliver a
//! listing taken before the agent's own deletes landed; deciding from it would delete the
//! same keys again, and Consul answers `true` to a CAS delete of a key that no longer exists,
//! so the second delete would be counted twice. A key is remembered with the index it was
//! deleted at until a listing no longer shows it at that index (the delete arrived, or the key
//! was written anew and must be judged afresh). The controller-runtime "expectations" idea.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use shepard_reconcilers::gc::GcDeletion;
use shepard_reconcilers::model::KvView;

/// Keys deleted by this agent, by the `ModifyIndex` they were deleted at.
#[derive(Debug, Default)]
pub struct RecentDeletes(Mutex<HashMap<String, u64>>);

impl RecentDeletes {
    /// Forgets every key `kv` no longer shows at the index it was deleted at.
    pub fn observe(&self, kv: &KvView) {
        self.lock()
            .retain(|key, cas| kv.get(key).is_some_and(|e| e.modify_index == *cas));
    }

    /// The deletions not already made from an identical entry.
    pub fn pending(&self, deletions: Vec<GcDeletion>) -> Vec<GcDeletion> {
        let recent = self.lock();
        deletions
            .into_iter()
            .filter(|d| recent.get(&d.key) != Some(&d.cas))
            .collect()
    }

    /// Remembers deletes that succeeded.
    pub fn record(&self, done: &[GcDeletion]) {
        let mut recent = self.lock();
        for d in done {
            recent.insert(d.key.clone(), d.cas);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use shepard_reconcilers::KeyKind;
    use shepard_reconcilers::gc::GcReason;
    use shepard_reconcilers::model::KvEntry;

    use super::*;

    fn deletion(key: &str, cas: u64) -> GcDeletion {
        GcDeletion {
            key: key.into(),
            kind: KeyKind::State,
            cas,
            reason: GcReason::AllocGone {
                alloc_id: "a".into(),
            },
        }
    }

    fn kv(entries: &[(&str, u64)]) -> KvView {
        entries
            .iter()
            .map(|(k, i)| {
                let entry = KvEntry {
                    value: Some("{}".into()),
                    modify_index: *i,
                    session: None,
                };
                ((*k).to_string(), entry)
            })
            .collect()
    }

    #[test]
    fn a_delete_is_not_repeated_from_a_listing_that_predates_it() {
        let recent = RecentDeletes::default();
        recent.record(&[deletion("a", 5)]);
        recent.observe(&kv(&[("a", 5), ("b", 6)]));
        let pending = recent.pending(vec![deletion("a", 5), deletion("b", 6)]);
        assert_eq!(pending, [deletion("b", 6)]);
    }

    #[test]
    fn a_key_written_anew_or_seen_gone_is_judged_afresh() {
        let recent = RecentDeletes::default();
        recent.record(&[deletion("a", 5), deletion("b", 6)]);
        recent.observe(&kv(&[("a", 9)]));
        assert_eq!(recent.pending(vec![deletion("a", 9)]), [deletion("a", 9)]);
        recent.record(&[deletion("b", 6)]);
        recent.observe(&kv(&[]));
        assert_eq!(recent.pending(vec![deletion("b", 6)]), [deletion("b", 6)]);
    }
}
