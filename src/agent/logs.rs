//! The `logs` reconciler as the runtime runs it (see `reconcilers/README.md`): one tailer per running task whose
//! logs are shipped — managed tasks, unless their meta `shepard_ship_logs = "false"` opts them
//! out, and any task with `shepard_ship_logs = "true"` — started when its allocation appears
//! and stopped when it goes: an allocation that stopped has the rest of its files shipped
//! before its tailer ends. After a restart, checkpoints of allocations gone meanwhile are
//! dropped. Also the log shipper's start and shutdown inside the agent, and the feed of
//! `logs` keys from the observed state.

use std::collections::{BTreeSet, HashSet};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use prometheus::Registry;
use shepard_reconcilers::settings::{self, AgentDefaults};

use super::shared::Shared;
use super::snapshot::{self, TaskKey};
use crate::config::Config;
use crate::logship::sinks::{self, SinkBuildError};
use crate::logship::{
    LogMetrics, LogShipper, LogShipperHandle, ShipperSettings, StartError, TaskLogs, TaskTags,
    resolve_meta,
};
use crate::observe::store::Observed;
use crate::runtime::{Backoff, Reconciler, RuntimeMetrics, WorkQueue, controller};

/// Task meta (task over group over job) that opts a task in (`"true"`) or out (`"false"`) of
/// log shipping; other values are ignored and the task's managed state decides.
pub const META_SHIP_LOGS: &str = "shepard_ship_logs";

/// Time Nomad's log collector gets after a task finished to write what it still read from the
/// task's pipes, before the rest of the task's files is shipped and its tailer ends.
pub const SETTLE: Duration = Duration::from_secs(1);

const LOGS_WORKERS: usize = 2;

/// Why log forwarding could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// A sink's configuration is unusable.
    #[error(transparent)]
    Sinks(#[from] SinkBuildError),
    /// The shipper could not start (state file, reader thread).
    #[error(transparent)]
    Start(#[from] StartError),
    /// The log-shipping metrics collided in the registry.
    #[error("cannot register the log-shipping metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Whether a task's logs are shipped: its `shepard_ship_logs` meta when `"true"` or `"false"`,
/// else whether shepard manages it.
pub fn ships_logs(managed: bool, meta: Option<&str>) -> bool {
    match meta {
        Some("true") => true,
        Some("false") => false,
        _ => managed,
    }
}

/// The node-level tags: the same for every task of this agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTags {
    pub name: String,
    pub datacenter: String,
}

/// What the observed state asks of one task's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogsWant {
    /// This node's allocations were not read yet (or the allocation lacks its job, or has a
    /// status this version does not know): nothing is decided.
    NotKnown,
    /// Ship the task's logs.
    Ship(TaskLogs),
    /// The allocation stopped: ship the rest of its files, once `wait` (the time left until
    /// the log collector settled) is over.
    Finish {
        logs: TaskLogs,
        wait: Option<Duration>,
    },
    /// The task's logs are not shipped.
    Skip,
    /// The allocation, or this task of it, is not on this node any more.
    Gone,
}

/// The decision for `key`, from the observed state alone.
pub fn want(
    observed: &Observed,
    key: &TaskKey,
    node: &NodeTags,
    meta_tags: &[String],
    defaults: &AgentDefaults,
    alloc_dir: &Path,
    now: SystemTime,
) -> LogsWant {
    let Some(allocs) = observed.node_allocs.as_ref() else {
        return LogsWant::NotKnown;
    };
    let Some(alloc) = allocs.iter().find(|a| a.id == key.alloc_id) else {
        return LogsWant::Gone;
    };
    let Some(job) = alloc.job.as_deref() else {
        return LogsWant::NotKnown;
    };
    let found = job
        .task_group(&alloc.task_group)
        .and_then(|g| Some((g, g.tasks.iter().find(|t| t.name == key.task)?)));
    let Some((group, task)) = found else {
        return LogsWant::Gone;
    };
    let t = snapshot::AllocTask {
        alloc,
        job,
        group,
        task,
    };
    let spec = snapshot::task_spec(job, group, task);
    let managed = settings::resolve(&t.id(), &spec, defaults).settings.managed;
    let choice = [&task.meta, &group.meta, &job.meta]
        .iter()
        .find_map(|meta| meta.get(META_SHIP_LOGS))
        .map(String::as_str);
    if !ships_logs(managed, choice) {
        return LogsWant::Skip;
    }
    let Some(status) = snapshot::alloc_status(&alloc.desired_status, &alloc.client_status) else {
        return LogsWant::NotKnown;
    };
    let Some(alloc_index) = alloc.alloc_index() else {
        tracing::warn!(alloc = %alloc.name, "allocation name without an index: logs not shipped");
        return LogsWant::NotKnown;
    };
    let logs = TaskLogs {
        log_dir: log_dir(alloc_dir, &alloc.id),
        tags: TaskTags {
            node: node.name.clone(),
            datacenter: node.datacenter.clone(),
            namespace: alloc.namespace.clone(),
            job: alloc.job_id.clone(),
            group: alloc.task_group.clone(),
            task: task.name.clone(),
            alloc_id: alloc.id.clone(),
            alloc_index,
            meta: resolve_meta(meta_tags, &task.meta, &group.meta, &job.meta),
        },
    };
    if status.is_live() {
        return LogsWant::Ship(logs);
    }
    let settled = alloc
        .task_state(&task.name)
        .and_then(|s| s.finished_at)
        .map(|finished| finished.to_system_time() + SETTLE);
    let wait = settled
        .and_then(|at| at.duration_since(now).ok())
        .filter(|d| !d.is_zero());
    LogsWant::Finish { logs, wait }
}

/// Where Nomad writes an allocation's task logs.
pub fn log_dir(alloc_dir: &Path, alloc_id: &str) -> PathBuf {
    alloc_dir.join(alloc_id).join("alloc").join("logs")
}

/// The keys to reconcile: every task of every allocation on this node, and every task the
/// shipper tails or holds a checkpoint of (so those whose allocation is gone are let go).
pub fn keys(observed: &Observed, shipper: &LogShipperHandle) -> BTreeSet<TaskKey> {
    let on_node = snapshot::alloc_tasks(observed)
        .into_iter()
        .map(|t| TaskKey {
            alloc_id: t.alloc.id.clone(),
            task: t.task.name.clone(),
        });
    let known = shipper
        .tracked()
        .into_iter()
        .chain(shipper.checkpointed())
        .map(|(alloc_id, task)| TaskKey { alloc_id, task });
    on_node.chain(known).collect()
}

/// Runs [`want`] for one key and moves the shipper there.
pub struct LogsReconciler {
    shared: Arc<Shared>,
    shipper: LogShipperHandle,
    node: NodeTags,
    meta_tags: Vec<String>,
    /// Tasks whose rest is being shipped: their drain ends the tailing.
    draining: Arc<Mutex<HashSet<TaskKey>>>,
}

impl LogsReconciler {
    fn is_draining(&self, key: &TaskKey) -> bool {
        let draining = self.draining.lock().unwrap_or_else(PoisonError::into_inner);
        draining.contains(key)
    }

    fn pair(key: &TaskKey) -> (String, String) {
        (key.alloc_id.clone(), key.task.clone())
    }

    /// Reads the task's files to their end, ships them, then ends its tailer — in the
    /// background: a sink that is down must not hold a worker.
    fn drain(&self, key: &TaskKey) {
        let done = self.shipper.untrack(&key.alloc_id, &key.task, true);
        self.draining
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone());
        tracing::info!("task stopped: shipping the rest of its logs");
        let draining = Arc::clone(&self.draining);
        let key = key.clone();
        tokio::spawn(async move {
            done.await;
            tracing::info!(task = %key, "logs of a stopped task shipped");
            draining
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        });
    }

    async fn forget(&self, key: &TaskKey) {
        tracing::info!("logs no longer shipped; checkpoint dropped");
        self.shipper.untrack(&key.alloc_id, &key.task, false).await;
    }
}

impl Reconciler<TaskKey> for LogsReconciler {
    type Error = Infallible;

    fn name(&self) -> &'static str {
        "logs"
    }

    async fn reconcile(&self, key: &TaskKey) -> Result<Option<Duration>, Infallible> {
        if self.is_draining(key) {
            return Ok(None);
        }
        let shared = &self.shared;
        let decided = want(
            &shared.store.read(),
            key,
            &self.node,
            &self.meta_tags,
            &shared.ctx.defaults,
            &shared.alloc_dir,
            SystemTime::now(),
        );
        let pair = Self::pair(key);
        let tracked = || self.shipper.tracked().contains(&pair);
        let checkpointed = || self.shipper.checkpointed().contains(&pair);
        match decided {
            LogsWant::NotKnown => {}
            LogsWant::Ship(logs) => {
                if !tracked() {
                    tracing::info!(dir = %logs.log_dir.display(), "shipping the task's logs");
                    self.shipper.track(logs);
                }
            }
            LogsWant::Finish { logs, wait } => {
                let was_tracked = tracked();
                if !was_tracked && !checkpointed() {
                    return Ok(None);
                }
                if let Some(wait) = wait {
                    return Ok(Some(wait));
                }
                if was_tracked {
                    self.drain(key);
                } else if logs.log_dir.is_dir() {
                    // Stopped while the agent was down: resume from the checkpoint, then drain.
                    self.shipper.track(logs);
                    self.drain(key);
                } else {
                    self.forget(key).await;
                }
            }
            LogsWant::Skip => {
                if tracked() || checkpointed() {
                    self.forget(key).await;
                }
            }
            LogsWant::Gone => {
                if tracked() {
                    self.drain(key);
                } else if checkpointed() {
                    self.forget(key).await;
                }
            }
        }
        Ok(None)
    }
}

/// Log forwarding inside the agent: the shipper, the `logs` work queue and its reconciler.
pub struct LogForwarding {
    queue: WorkQueue<TaskKey>,
    shipper: LogShipperHandle,
    reconciler: Arc<LogsReconciler>,
}

impl LogForwarding {
    /// Starts the shipper with the configured sinks; `None` when no sink is configured.
    pub fn start(
        config: &Config,
        registry: &Registry,
        node: NodeTags,
        shared: Arc<Shared>,
        runtime_metrics: &RuntimeMetrics,
    ) -> Result<Option<Self>, LogsError> {
        if !config.logs.any_sink() {
            return Ok(None);
        }
        let mut settings = ShipperSettings::from_config(config);
        // The other half of the shutdown time goes to the reconciles still running.
        settings.shutdown_grace = config.shutdown_timeout / 2;
        let shipper = LogShipper::start(
            settings,
            sinks::build(&config.logs)?,
            LogMetrics::register(registry)?,
        )?;
        let reconciler = Arc::new(LogsReconciler {
            shared,
            shipper: shipper.clone(),
            node,
            meta_tags: config.logs.meta_tags.clone(),
            draining: Arc::default(),
        });
        Ok(Some(Self {
            queue: WorkQueue::new(runtime_metrics.queue("logs"), Backoff::default()),
            shipper,
            reconciler,
        }))
    }

    /// The controller: runs the reconciler over the queue until it is shut down.
    pub fn controller(&self, metrics: RuntimeMetrics) -> impl Future<Output = ()> + use<> {
        controller::run(
            self.queue.clone(),
            Arc::clone(&self.reconciler),
            LOGS_WORKERS,
            metrics,
        )
    }

    /// Adds every key on each change of the observed state, and all of them every `resync`.
    pub fn feed(&self, resync: Duration) -> impl Future<Output = ()> + use<> {
        let (queue, shipper) = (self.queue.clone(), self.shipper.clone());
        let shared = Arc::clone(&self.reconciler.shared);
        async move {
            let current = || keys(&shared.store.read(), &shipper);
            let on_change = async {
                let mut changes = shared.store.subscribe();
                loop {
                    for key in current() {
                        queue.add(key);
                    }
                    if changes.changed().await.is_err() {
                        return;
                    }
                }
            };
            let every =
                controller::resync(queue.clone(), resync, || current().into_iter().collect());
            tokio::join!(on_change, every);
        }
    }

    /// No new reconciles; those running finish.
    pub fn stop_reconciles(&self) {
        self.queue.shut_down();
    }

    /// Ships what was read (for at most half the shutdown timeout) and stops the shipper.
    pub async fn shutdown(self) {
        self.shipper.shutdown().await;
    }
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
