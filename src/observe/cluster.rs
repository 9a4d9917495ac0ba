//! The cluster-wide view that only the holder of the GC lock needs: every node (with since
//! when it is down or absent), every job and every allocation of the region, each kept
//! current by a blocking watch. The watches run only while this agent holds the lock
//! ([`ClusterWatches::set_running`]), so a cluster of 500 agents runs them once, not 500 times.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::SystemTime;

use futures::StreamExt;
use shepard_reconcilers::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::node_tracker::NodeTracker;
use super::watchers::NOMAD_WAIT;
use crate::api_metrics::{Api, ApiMetrics};
use crate::blocking::BlockingParams;
use crate::nomad::models::AllocationListStub;
use crate::nomad::{JobListStub, NomadClient};
use crate::watch::{WatchConfig, watch};

/// What the cluster watches have seen; `None`: not answered yet since they started.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub nodes: Option<NodeTracker>,
    pub jobs: Option<Vec<JobListStub>>,
    pub allocs: Option<Vec<AllocationListStub>>,
}

impl ClusterView {
    /// Every source has answered: a cluster-wide pass may use the view.
    pub fn is_complete(&self) -> bool {
        self.nodes.is_some() && self.jobs.is_some() && self.allocs.is_some()
    }
}

/// Shared handle to the cluster view, with a generation counter that moves on every change.
#[derive(Clone)]
pub struct ClusterStore {
    state: Arc<RwLock<ClusterView>>,
    changes: watch::Sender<u64>,
}

impl Default for ClusterStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterStore {
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            changes: watch::channel(0).0,
        }
    }

    /// A read view. Hold it briefly: the watches wait for it to write.
    pub fn read(&self) -> RwLockReadGuard<'_, ClusterView> {
        // Every update replaces whole fields, so a panicked writer leaves no half-state.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn update(&self, apply: impl FnOnce(&mut ClusterView)) {
        {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            apply(&mut state);
        }
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Forgets everything (the watches stopped: the view would only grow stale).
    pub fn clear(&self) {
        self.update(|view| *view = ClusterView::default());
    }
}

/// The three cluster watches, running or not.
pub struct ClusterWatches {
    nomad: NomadClient,
    store: ClusterStore,
    metrics: ApiMetrics,
    running: Vec<JoinHandle<()>>,
}

impl ClusterWatches {
    pub fn new(nomad: NomadClient, store: ClusterStore, metrics: ApiMetrics) -> Self {
        Self {
            nomad,
            store,
            metrics,
            running: Vec::new(),
        }
    }

    pub fn is_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// Starts the watches (`true`) or stops them and clears the view (`false`).
    pub fn set_running(&mut self, run: bool) {
        if run == self.is_running() {
            return;
        }
        if run {
            let (nomad, store, metrics) = (&self.nomad, &self.store, &self.metrics);
            self.running = vec![
                tokio::spawn(nodes(nomad.clone(), store.clone(), metrics.clone())),
                tokio::spawn(jobs(nomad.clone(), store.clone(), metrics.clone())),
                tokio::spawn(allocs(nomad.clone(), store.clone(), metrics.clone())),
            ];
        } else {
            for task in self.running.drain(..) {
                task.abort();
            }
            self.store.clear();
        }
    }
}

impl Drop for ClusterWatches {
    fn drop(&mut self) {
        for task in &self.running {
            task.abort();
        }
    }
}

fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// Watches `/v1/nodes`; reads `StatusUpdatedAt` of each node that went down.
async fn nodes(nomad: NomadClient, store: ClusterStore, metrics: ApiMetrics) {
    let config = WatchConfig::new(Api::Nomad, "gc_nodes", NOMAD_WAIT);
    let snapshots = watch(config, metrics, {
        let nomad = nomad.clone();
        move |params| {
            let nomad = nomad.clone();
            async move { nomad.nodes(params).await }
        }
    });
    let mut snapshots = std::pin::pin!(snapshots);
    let mut tracker = NodeTracker::default();
    while let Some(snapshot) = snapshots.next().await {
        let stubs = match snapshot {
            Ok(indexed) => indexed.value,
            Err(e) => {
                tracing::warn!(error = %e, "node listing watch failed");
                continue;
            }
        };
        for query in tracker.update(&stubs, now()) {
            match nomad.node(&query.node_id, BlockingParams::default()).await {
                Ok(node) => {
                    let node = node.value;
                    let since =
                        Timestamp::from_system_time(node.status_updated_at.to_system_time());
                    // A zero time would make the node look gone since 1970.
                    if since > Timestamp::EPOCH {
                        tracker.set_since(&query, &node.status, since);
                    }
                }
                // `since` stays at when this agent saw the node down: later, never earlier.
                Err(e) => tracing::warn!(node = %query.name, error = %e, "cannot read a down node"),
            }
        }
        store.update(|view| view.nodes = Some(tracker.clone()));
    }
}

/// Watches `/v1/jobs?namespace=*`.
async fn jobs(nomad: NomadClient, store: ClusterStore, metrics: ApiMetrics) {
    let config = WatchConfig::new(Api::Nomad, "gc_jobs", NOMAD_WAIT);
    let snapshots = watch(config, metrics, move |params| {
        let nomad = nomad.clone();
        async move { nomad.jobs_all_namespaces(params).await }
    });
    snapshots
        .for_each(|snapshot| {
            match snapshot {
                Ok(indexed) => store.update(|view| view.jobs = Some(indexed.value)),
                Err(e) => tracing::warn!(error = %e, "job listing watch failed"),
            }
            async {}
        })
        .await;
}

/// Watches `/v1/allocations?namespace=*`.
async fn allocs(nomad: NomadClient, store: ClusterStore, metrics: ApiMetrics) {
    let config = WatchConfig::new(Api::Nomad, "gc_allocations", NOMAD_WAIT);
    let snapshots = watch(config, metrics, move |params| {
        let nomad = nomad.clone();
        async move { nomad.allocations_all_namespaces(params).await }
    });
    snapshots
        .for_each(|snapshot| {
            match snapshot {
                Ok(indexed) => store.update(|view| view.allocs = Some(indexed.value)),
                Err(e) => tracing::warn!(error = %e, "allocation listing watch failed"),
            }
            async {}
        })
        .await;
}
