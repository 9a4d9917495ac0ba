//! The cluster-wide view that only the holder of the GC lock needs: every node (with since
//! when it is down or absent), every job and every allocation of the region, each kept
//! current by a blocking watch. The watches run only while this agent holds the lock
//! ([`ClusterWatches::set_running`]), so a cluster of 500 agents runs them once, not 500 times.
//! A source whose last call failed is absent from the view until it answers again.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use shepard_reconcilers::Timestamp;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::node_tracker::NodeTracker;
use super::watchers::NOMAD_WAIT;
use crate::api_metrics::{Api, ApiMetrics};
use crate::blocking::{BlockingParams, Indexed};
use crate::nomad::models::AllocationListStub;
use crate::nomad::{JobListStub, NomadClient};
use crate::watch::{WatchConfig, WatchError, watch};

/// What the cluster watches have seen; `None`: no answer since they started or since the
/// last failed call.
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

/// After a failed call, how long until a fresh watch asks again.
const RESTART_PAUSE: Duration = Duration::from_secs(2);

type Snapshots<T, E> = Pin<Box<dyn Stream<Item = Result<Indexed<T>, WatchError<E>>> + Send>>;

/// A watch that yields `None` for a failed call (the source is then absent from the view,
/// and the holder collects only its own node: a stale listing could make a new job look gone)
/// and restarts after [`RESTART_PAUSE`], so the next answer comes from a non-blocking read
/// rather than after a blocking query's full wait.
struct Listing<T, E, F> {
    config: WatchConfig,
    metrics: ApiMetrics,
    fetch: F,
    snapshots: Option<Snapshots<T, E>>,
    failed: bool,
}

impl<T, E, F, Fut> Listing<T, E, F>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
    F: FnMut(BlockingParams) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Indexed<T>, E>> + Send + 'static,
{
    fn new(config: WatchConfig, metrics: ApiMetrics, fetch: F) -> Self {
        Self {
            config,
            metrics,
            fetch,
            snapshots: None,
            failed: false,
        }
    }

    /// The next answer, or `None` for a failed call.
    async fn next(&mut self) -> Option<T> {
        if std::mem::take(&mut self.failed) {
            tokio::time::sleep(RESTART_PAUSE).await;
        }
        let snapshots = self.snapshots.get_or_insert_with(|| {
            Box::pin(watch(
                self.config.clone(),
                self.metrics.clone(),
                self.fetch.clone(),
            ))
        });
        match snapshots.next().await {
            Some(Ok(indexed)) => Some(indexed.value),
            Some(Err(e)) => {
                tracing::warn!(source = %self.config.source, error = %e, "GC listing watch failed");
                self.snapshots = None;
                self.failed = true;
                None
            }
            None => {
                self.snapshots = None;
                self.failed = true;
                None
            }
        }
    }
}

/// Watches `/v1/nodes`; reads `StatusUpdatedAt` of each node that went down. The tracker
/// outlives restarts of the watch: when nodes went down or vanished is not forgotten.
async fn nodes(nomad: NomadClient, store: ClusterStore, metrics: ApiMetrics) {
    let config = WatchConfig::new(Api::Nomad, "gc_nodes", NOMAD_WAIT);
    let fetch = {
        let nomad = nomad.clone();
        move |params| {
            let nomad = nomad.clone();
            async move { nomad.nodes(params).await }
        }
    };
    let mut listing = Listing::new(config, metrics, fetch);
    let mut tracker = NodeTracker::default();
    loop {
        let Some(stubs) = listing.next().await else {
            store.update(|view| view.nodes = None);
            continue;
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
    let fetch = move |params| {
        let nomad = nomad.clone();
        async move { nomad.jobs_all_namespaces(params).await }
    };
    let mut listing = Listing::new(config, metrics, fetch);
    loop {
        let jobs = listing.next().await;
        store.update(|view| view.jobs = jobs);
    }
}

/// Watches `/v1/allocations?namespace=*`.
async fn allocs(nomad: NomadClient, store: ClusterStore, metrics: ApiMetrics) {
    let config = WatchConfig::new(Api::Nomad, "gc_allocations", NOMAD_WAIT);
    let fetch = move |params| {
        let nomad = nomad.clone();
        async move { nomad.allocations_all_namespaces(params).await }
    };
    let mut listing = Listing::new(config, metrics, fetch);
    loop {
        let allocs = listing.next().await;
        store.update(|view| view.allocs = allocs);
    }
}
