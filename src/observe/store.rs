//! The agent's observed state (the reflector stores of kube-runtime, one per watch): the latest answer of every
//! watch, in one place, with a generation counter that moves on every change. The runtime
//! subscribes to the counter and re-enqueues the reconcile keys; reconcilers read a consistent
//! view under one read lock. Nothing here decides anything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::SystemTime;

use tokio::sync::watch;

use super::wall_clock::{Reading, WallClock};
use crate::consul::{HealthCheck, KvPair};
use crate::nomad::models::{Allocation, AllocationListStub};

/// A job, as the key of cluster-wide allocation listings: namespace and job ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobRef {
    pub namespace: String,
    pub job_id: String,
}

/// A Consul check with what the agent saw of its history. Consul 1.8 reports no time of a
/// check's last run: these times are the agent's own, taken when a watch answer showed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedCheck {
    pub check: HealthCheck,
    /// When the agent first saw the check in its current status.
    pub since: SystemTime,
    /// When the agent first saw this registration (this `CreateIndex`).
    pub registered_at: SystemTime,
    /// When the agent last saw the status or output change within this registration.
    pub result_changed_at: Option<SystemTime>,
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
    /// How many wall-clock steps the checks' times have been rebased past.
    pub checks_clock_steps: u64,
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
    wall: WallClock,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        Self::with_clock(WallClock::default())
    }

    /// A store whose check times come from `wall`.
    pub fn with_clock(wall: WallClock) -> Self {
        Self {
            state: Arc::default(),
            changes: watch::channel((0, None)).0,
            wall,
        }
    }

    /// Reads the wall clock. After a step the checks' history is dropped: every check counts as
    /// registered now with no result change seen, since times read before the step cannot be
    /// compared with times read after it.
    pub fn now(&self) -> Reading {
        let reading = self.wall.read();
        let steps = reading.last_step.map_or(0, |s| s.count);
        if self.read().checks_clock_steps != steps {
            self.update(Change::Checks, |o| {
                for tracked in o.checks.values_mut() {
                    tracked.since = reading.now;
                    tracked.registered_at = reading.now;
                    tracked.result_changed_at = None;
                }
                o.checks_clock_steps = steps;
            });
        }
        reading
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

    /// Replaces the checks seen at `now`. A check registered again (a new `CreateIndex`: Nomad
    /// re-registers a task's services at every start) starts a new history; within one
    /// registration, `since` moves when the status changes and `result_changed_at` when the
    /// status or the output does.
    pub fn set_checks(&self, checks: Vec<HealthCheck>, reading: Reading) {
        let now = reading.now;
        let steps = reading.last_step.map_or(0, |s| s.count);
        self.update(Change::Checks, |o| {
            let mut previous = std::mem::take(&mut o.checks);
            if o.checks_clock_steps != steps {
                // Histories from before a clock step start again (see `Store::now`).
                previous.clear();
                o.checks_clock_steps = steps;
            }
            o.checks = checks
                .into_iter()
                .map(|check| {
                    let tracked = match previous
                        .get(&check.check_id)
                        .filter(|p| p.check.create_index == check.create_index)
                    {
                        None => TrackedCheck {
                            check,
                            since: now,
                            registered_at: now,
                            result_changed_at: None,
                        },
                        Some(p) => {
                            let status_changed = p.check.status != check.status;
                            let changed = status_changed || p.check.output != check.output;
                            TrackedCheck {
                                since: if status_changed { now } else { p.since },
                                registered_at: p.registered_at,
                                result_changed_at: if changed {
                                    Some(now)
                                } else {
                                    p.result_changed_at
                                },
                                check,
                            }
                        }
                    };
                    (tracked.check.check_id.clone(), tracked)
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
    use crate::observe::wall_clock::{ClockStep, Jump};

    /// A reading at `now`, after `steps` clock steps.
    fn reading(now: SystemTime, steps: u64) -> Reading {
        let last_step = (steps > 0).then_some(ClockStep {
            seen_at: now,
            jump: Jump::Forward(Duration::from_secs(600)),
            count: steps,
        });
        Reading { now, last_step }
    }

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
        store.set_checks(vec![check("a", CheckStatus::Critical)], reading(t0, 0));
        store.set_checks(vec![check("a", CheckStatus::Critical)], reading(t1, 0));
        assert_eq!(store.read().checks["a"].since, t0);
        store.set_checks(vec![check("a", CheckStatus::Passing)], reading(t2, 0));
        assert_eq!(store.read().checks["a"].since, t2);
        store.set_checks(vec![], reading(t2, 0));
        assert!(store.read().checks.is_empty());
    }

    #[test]
    fn a_result_change_is_seen_only_within_one_registration() {
        let store = Store::new();
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        store.set_checks(vec![check("a", CheckStatus::Passing)], reading(at(100), 0));
        let first = store.read().checks["a"].clone();
        assert_eq!(
            (first.registered_at, first.result_changed_at),
            (at(100), None)
        );

        let mut output = check("a", CheckStatus::Passing);
        output.output = "HTTP GET: 200 OK".into();
        store.set_checks(vec![output.clone()], reading(at(105), 0));
        let seen = store.read().checks["a"].clone();
        assert_eq!(seen.since, at(100), "same status: since stays");
        assert_eq!(seen.result_changed_at, Some(at(105)), "the output changed");

        // Registered again (a task restart): a new history, whatever the status.
        let mut again = check("a", CheckStatus::Critical);
        again.create_index = 2;
        store.set_checks(vec![again.clone()], reading(at(110), 0));
        let fresh = store.read().checks["a"].clone();
        assert_eq!(
            (fresh.since, fresh.registered_at, fresh.result_changed_at),
            (at(110), at(110), None)
        );
        again.status = CheckStatus::Passing;
        store.set_checks(vec![again], reading(at(120), 0));
        let ran = store.read().checks["a"].clone();
        assert_eq!((ran.since, ran.result_changed_at), (at(120), Some(at(120))));
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

    #[test]
    fn a_clock_step_drops_every_check_history() {
        let store = Store::new();
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mut ran = check("a", CheckStatus::Passing);
        store.set_checks(vec![ran.clone()], reading(at(100), 0));
        ran.output = "HTTP GET: 200 OK".into();
        store.set_checks(vec![ran.clone()], reading(at(105), 0));
        assert_eq!(store.read().checks["a"].result_changed_at, Some(at(105)));

        // The next listing comes after a step: the same registration starts a new history.
        store.set_checks(vec![ran], reading(at(50), 1));
        let fresh = store.read().checks["a"].clone();
        assert_eq!(
            (fresh.since, fresh.registered_at, fresh.result_changed_at),
            (at(50), at(50), None)
        );
    }
}
