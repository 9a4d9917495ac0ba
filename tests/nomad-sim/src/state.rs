//! The cluster's state store: nodes, jobs, allocations and deployments behind one lock, a raft-like index
//! that every change bumps (with per-table indexes, as Nomad's `index` table keeps them), and
//! a watch channel that wakes blocking queries on every change. Also keeps the simulator's
//! own evidence log (`/sim/events`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::watch;

use crate::clock::now_nanos;
use crate::model::alloc::Alloc;
use crate::model::deployment::Deployment;
use crate::model::job::Job;
use crate::model::node::Node;
use crate::model::task_state::{TaskEvent, TaskState};

/// One line of `/sim/events`: a task start or stop, or an alloc client-status change.
#[derive(Debug, Clone, Serialize)]
pub struct SimEvent {
    pub seq: u64,
    /// `task-started`, `task-stopped` or `client-status`.
    pub kind: String,
    pub time_ns: i64,
    pub node: String,
    pub node_id: String,
    pub alloc_id: String,
    pub alloc_index: u32,
    pub alloc_name: String,
    pub job: String,
    pub group: String,
    pub task: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_status: Option<String>,
}

#[derive(Debug, Default)]
pub struct Inner {
    pub index: u64,
    pub nodes_index: u64,
    pub jobs_index: u64,
    pub allocs_index: u64,
    pub deployments_index: u64,
    pub nodes: Vec<Node>,
    /// Keyed by (namespace, job ID).
    pub jobs: BTreeMap<(String, String), Arc<Job>>,
    pub allocs: BTreeMap<String, Alloc>,
    /// Keyed by deployment ID.
    pub deployments: BTreeMap<String, Deployment>,
    pub sim_events: Vec<SimEvent>,
}

impl Inner {
    /// Allocates the next raft index for a write.
    pub fn next_index(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    pub fn node_by_id(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn node_position(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Appends to the evidence log.
    pub fn record(&mut self, mut event: SimEvent) {
        event.seq = self.sim_events.len() as u64 + 1;
        self.sim_events.push(event);
    }

    /// A sim event about one task of an alloc, with the alloc's identity filled in.
    pub fn sim_event(&self, alloc: &Alloc, kind: &str, task: &str) -> SimEvent {
        SimEvent {
            seq: 0,
            kind: kind.into(),
            time_ns: now_nanos(),
            node: alloc.node_name.clone(),
            node_id: alloc.node_id.clone(),
            alloc_id: alloc.id.clone(),
            alloc_index: alloc.index,
            alloc_name: alloc.name.clone(),
            job: alloc.job_id.clone(),
            group: alloc.task_group.clone(),
            task: task.into(),
            pid: None,
            exit_code: None,
            signal: None,
            client_status: None,
        }
    }

    /// A client update of one alloc (`nestedUpdateAllocFromClient`): bumps ModifyIndex,
    /// recomputes ClientStatus and the job's status.
    pub fn client_update(&mut self, alloc_id: &str, f: impl FnOnce(&mut Alloc)) -> bool {
        let index = self.index + 1;
        let Some(alloc) = self.allocs.get_mut(alloc_id) else {
            return false;
        };
        let before = alloc.client_status.clone();
        f(alloc);
        alloc.refresh_client_status();
        alloc.modify_index = index;
        alloc.modify_time = now_nanos();
        let changed_status = (before != alloc.client_status).then(|| alloc.clone());
        let (ns, job) = (alloc.namespace.clone(), alloc.job_id.clone());
        self.index = index;
        self.allocs_index = index;
        if let Some(alloc) = changed_status {
            let mut ev = self.sim_event(&alloc, "client-status", "");
            ev.client_status = Some(alloc.client_status.clone());
            self.record(ev);
        }
        self.refresh_job_status(&ns, &job);
        true
    }

    /// Appends a task event and optionally moves the task to a new state at `now` (the
    /// client's clock, Unix nanoseconds).
    pub fn task_event(
        &mut self,
        alloc_id: &str,
        task: &str,
        event: Option<TaskEvent>,
        state: Option<&str>,
        now: i64,
    ) -> bool {
        self.client_update(alloc_id, |alloc| {
            let ts = alloc
                .task_states
                .entry(task.to_string())
                .or_insert_with(TaskState::default);
            if let Some(event) = event {
                ts.append_event(event);
            }
            if let Some(state) = state {
                ts.set_state(state, now);
            }
        })
    }

    /// `getJobStatus`: running while any alloc is non-terminal, else dead (or pending when
    /// nothing was ever placed). A change bumps the job's ModifyIndex.
    pub fn refresh_job_status(&mut self, namespace: &str, job_id: &str) {
        let key = (namespace.to_string(), job_id.to_string());
        let Some(job) = self.jobs.get(&key) else {
            return;
        };
        let mut has_alloc = false;
        let mut running = false;
        for alloc in self
            .allocs
            .values()
            .filter(|a| a.job_id == job_id && a.namespace == namespace)
        {
            has_alloc = true;
            running |= !alloc.terminal();
        }
        let status = if running {
            "running"
        } else if has_alloc || job.stop {
            "dead"
        } else {
            "pending"
        };
        if job.status != status {
            let index = if self.index > job.modify_index {
                self.index
            } else {
                self.next_index()
            };
            self.jobs_index = index;
            if let Some(job) = self.jobs.get_mut(&key) {
                let job = Arc::make_mut(job);
                job.status = status.to_string();
                job.modify_index = index;
            }
        }
    }
}

/// Shared handle to the state store.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
}

impl Store {
    pub fn new(inner: Inner) -> Self {
        let (changed, _) = watch::channel(inner.index);
        Self {
            inner: Mutex::new(inner),
            changed,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough data for a test tool.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&Inner) -> R) -> R {
        f(&self.lock())
    }

    /// Writes under the lock and wakes blocking queries when the index moved.
    pub fn write<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let (result, before, after) = {
            let mut inner = self.lock();
            let before = inner.index;
            let r = f(&mut inner);
            (r, before, inner.index)
        };
        if after != before {
            self.changed.send_replace(after);
        }
        result
    }

    /// A receiver that fires on every change of the index.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
