//! The agent's observed state (the reflector stores of DESIGN §5): the latest answer of every
//! watch, in one place, with a generation counter that moves on every change. The runtime
//! subscribes to the counter and re-enqueues the reconcile keys; reconcilers read a consistent
//! view under one read lock. Nothing here decides anything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::SystemTime;

use tokio::sync::watch;

use crate::consul::{HealthCheck, KvPair};
use crate::nomad::models::{Allocation, AllocationListStub};

/// A job, as the key of cluster-wide allocation listings: namespace and job ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobRef {
    pub namespace: String,
    pub job_id: String,
}

/// A Consul check with the time the agent first saw it in its current status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedCheck {
    pub check: HealthCheck,
    pub since: SystemTime,
}

/// Everything the watches have seen. `None` / absent: not read yet.
#[derive(Debug, Default)]
pub struct Observed {
    /// This node's allocations (`/v1/node/:id/allocations`).
    pub node_allocs: Option<Vec<Allocation>>,
    /// Allocations of each job with a managed task on this node, cluster-wide.
    pub job_allocs: HashMap<JobRef, Vec<AllocationListStub>>,
    /// Every key under the prefix, by key.
    pub kv: Option<BTreeMap<String, KvPair>>,
    /// Checks on this node's Consul agent, by `CheckID`.
    pub checks: HashMap<String, TrackedCheck>,
}

/// Which part of the observed state changed: lets the runtime skip work a change cannot affect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    NodeAllocs,
    JobAllocs,
    Kv,
    Checks,
}

/// Shared handle to the observed state.
#[derive(Clone)]
pub struct Store {
    state: Arc<RwLock<Observed>>,
    changes: watch::Sender<(u64, Option<Change>)>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            changes: watch::channel((0, None)).0,
        }
    }

    /// A read view. Hold it briefly: watchers wait for it to write.
    pub fn read(&self) -> RwLockReadGuard<'_, Observed> {
        // Every update replaces whole fields, so a panicked writer leaves no half-state.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes on every change; the value is a generation counter and what changed last.
    pub fn subscribe(&self) -> watch::Receiver<(u64, Option<Change>)> {
        self.changes.subscribe()
    }

    fn update(&self, change: Change, apply: impl FnOnce(&mut Observed)) {
        {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            apply(&mut state);
        }
        self.changes.send_modify(|(generation, last)| {
            *generation += 1;
            *last = Some(change);
        });
    }

    pub fn set_node_allocs(&self, allocs: Vec<Allocation>) {
        self.update(Change::NodeAllocs, |o| o.node_allocs = Some(allocs));
    }

    pub fn set_job_allocs(&self, job: JobRef, allocs: Vec<AllocationListStub>) {
        self.update(Change::JobAllocs, |o| {
            o.job_allocs.insert(job, allocs);
        });
    }

    /// Forgets a job's listing (its watch stopped: no managed task of it runs here any more).
    pub fn remove_job_allocs(&self, job: &JobRef) {
        self.update(Change::JobAllocs, |o| {
            o.job_allocs.remove(job);
        });
    }

    pub fn set_kv(&self, pairs: Vec<KvPair>) {
        let kv = pairs.into_iter().map(|p| (p.key.clone(), p)).collect();
        self.update(Change::Kv, |o| o.kv = Some(kv));
    }

    /// Replaces the checks, keeping `since` of every check whose status did not change.
    pub fn set_checks(&self, checks: Vec<HealthCheck>, now: SystemTime) {
        self.update(Change::Checks, |o| {
            let previous = std::mem::take(&mut o.checks);
            o.checks = checks
                .into_iter()
                .map(|check| {
                    let since = previous
                        .get(&check.check_id)
                        .filter(|p| p.check.status == check.status)
                        .map_or(now, |p| p.since);
                    (check.check_id.clone(), TrackedCheck { check, since })
                })
                .collect();
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::consul::CheckStatus;

    fn check(id: &str, status: CheckStatus) -> HealthCheck {
        HealthCheck {
            node: "n".into(),
            check_id: id.into(),
            name: id.into(),
            status,
            notes: String::new(),
            output: String::new(),
            service_id: String::new(),
            service_name: String::new(),
            service_tags: Vec::new(),
            check_type: "http".into(),
            create_index: 1,
            modify_index: 1,
        }
    }

    #[test]
    fn a_check_keeps_its_since_until_its_status_changes() {
        let store = Store::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let t1 = t0 + Duration::from_secs(5);
        let t2 = t1 + Duration::from_secs(5);
        store.set_checks(vec![check("a", CheckStatus::Critical)], t0);
        store.set_checks(vec![check("a", CheckStatus::Critical)], t1);
        assert_eq!(store.read().checks["a"].since, t0);
        store.set_checks(vec![check("a", CheckStatus::Passing)], t2);
        assert_eq!(store.read().checks["a"].since, t2);
        store.set_checks(vec![], t2);
        assert!(store.read().checks.is_empty());
    }

    #[test]
    fn every_update_moves_the_generation() {
        let store = Store::new();
        let changes = store.subscribe();
        store.set_kv(vec![]);
        store.set_node_allocs(vec![]);
        assert_eq!(*changes.borrow(), (2, Some(Change::NodeAllocs)));
        assert!(store.read().kv.is_some());
    }
}
