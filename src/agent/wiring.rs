//! How the agent's parts are connected: clients and metrics, the watches feeding the store,
//! the session, the work queues and their controllers (task, rollout, gc), the enqueuer that
//! turns every change into reconcile keys, the periodic resync, and the orderly shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use shepard_reconcilers::keys::{Key, Prefix, parse};
use shepard_reconcilers::model::TaskId;
use shepard_reconcilers::settings::AgentDefaults;
use shepard_reconcilers::{Context, ProblemKind};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::gc::{GcKey, GcReconciler};
use super::gc_metrics::GcMetrics;
use super::keys::{Wanted, wanted};
use super::logs::{LogForwarding, NodeTags};
use super::metrics::DomainMetrics;
use super::rollout::RolloutReconciler;
use super::session::{AgentSession, Registration, SessionSettings};
use super::shared::Shared;
use super::snapshot::TaskKey;
use super::start::{self, NodeFacts};
use super::task::TaskReconciler;
use super::{AgentError, clients};
use crate::api_metrics::ApiMetrics;
use crate::apply::Applier;
use crate::config::Config;
use crate::consul::ConsulClient;
use crate::observe::cluster::{ClusterStore, ClusterWatches};
use crate::observe::file_watcher::FileWatcher;
use crate::observe::store::Store;
use crate::observe::wall_clock::WallClock;
use crate::observe::watchers::{self, JobAllocWatches};
use crate::runtime::{Backoff, RuntimeMetrics, WorkQueue, controller};
use crate::telemetry::{Readiness, readiness};

/// Workers per queue: reconciles of different keys run in parallel, one key never twice.
const TASK_WORKERS: usize = 4;
const ROLLOUT_WORKERS: usize = 2;

pub async fn run(
    config: &Config,
    registry: &Registry,
    readiness: &Readiness,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let api_metrics = ApiMetrics::register(registry)?;
    let runtime_metrics = RuntimeMetrics::register(registry)?;
    let domain_metrics = DomainMetrics::register(registry)?;
    let gc_metrics = GcMetrics::register(registry)?;
    let consul = clients::consul(config, api_metrics.clone())?;
    let nomad = clients::nomad(config, api_metrics.clone())?;
    let consul_ready = readiness.register(readiness::CONSUL);
    let nomad_ready = readiness.register(readiness::NOMAD);
    let session_ready = readiness.register(readiness::SESSION);
    let (file_watcher, file_events) = FileWatcher::new()?;
    let mut background = JoinSet::new();

    let store = Store::with_clock(WallClock::new({
        let metrics = domain_metrics.clone();
        move |step| {
            tracing::warn!(step = ?step.jump, steps = step.count,
                "the wall clock stepped: restarts being verified on this node count their health \
                 proof and deadlines again from now");
            metrics.problem(ProblemKind::ClockStep);
        }
    }));
    background.spawn(watchers::kv(
        consul.clone(),
        config.consul.prefix.clone(),
        store.clone(),
        consul_ready,
        api_metrics.clone(),
    ));
    tokio::pin!(shutdown);
    let node = tokio::select! {
        node = start::discover(&nomad, &consul, config.nomad.alloc_dir.clone(), &nomad_ready) => node,
        () = &mut shutdown => return Ok(()),
    };
    tracing::info!(node = %node.name, node_id = %node.id, alloc_dir = %node.alloc_dir.display(),
        consul_node = %node.consul_node, "node identified");
    background.spawn(watchers::node_allocs(
        nomad.clone(),
        node.id.clone(),
        store.clone(),
        nomad_ready,
        api_metrics.clone(),
    ));
    background.spawn(watchers::checks(
        consul.clone(),
        node.consul_node.clone(),
        store.clone(),
        api_metrics.clone(),
    ));

    let prefix = Prefix::new(&config.consul.prefix);
    let session = AgentSession::spawn(
        consul.clone(),
        SessionSettings {
            name: format!("shepard agent on {}", node.name),
            ttl: config.consul.session_ttl,
            lock_delay: config.consul.lock_delay,
        },
        registration(config, &node, &prefix),
        session_ready,
    );
    let ctx = Context {
        node: node.name.clone(),
        prefix,
        defaults: AgentDefaults {
            max_parallel: config.defaults.max_parallel,
            min_healthy_time: config.defaults.min_healthy_time,
            healthy_deadline: config.defaults.healthy_deadline,
        },
        node_cleanup_timeout: config.node_cleanup_timeout,
    };
    let shared = Arc::new(Shared::new(
        ctx,
        node.alloc_dir.clone(),
        store.clone(),
        session.current(),
        Applier {
            consul: consul.clone(),
            nomad: nomad.clone(),
            metrics: domain_metrics.clone(),
            lease: session.lease(),
        },
        domain_metrics,
    ));

    let task_queue: WorkQueue<TaskKey> =
        WorkQueue::new(runtime_metrics.queue("task"), Backoff::default());
    let rollout_queue: WorkQueue<TaskId> =
        WorkQueue::new(runtime_metrics.queue("rollout"), Backoff::default());
    let logs = LogForwarding::start(
        config,
        registry,
        NodeTags {
            name: node.name.clone(),
            datacenter: node.datacenter.clone(),
        },
        shared.clone(),
        &runtime_metrics,
    )?;
    let mut controllers = JoinSet::new();
    if let Some(logs) = &logs {
        controllers.spawn(logs.controller(runtime_metrics.clone()));
        background.spawn(logs.feed(config.resync_interval));
    }
    controllers.spawn(controller::run(
        task_queue.clone(),
        Arc::new(TaskReconciler(shared.clone())),
        TASK_WORKERS,
        runtime_metrics.clone(),
    ));
    controllers.spawn(controller::run(
        rollout_queue.clone(),
        Arc::new(RolloutReconciler(shared.clone())),
        ROLLOUT_WORKERS,
        runtime_metrics.clone(),
    ));
    let gc_queue: WorkQueue<GcKey> =
        WorkQueue::new(runtime_metrics.queue("gc"), Backoff::default());
    let cluster = ClusterStore::new();
    let gc = GcReconciler::new(
        shared.clone(),
        cluster.clone(),
        gc_metrics,
        config.rollout_history,
    );
    controllers.spawn(controller::run(
        gc_queue.clone(),
        Arc::new(gc),
        1,
        runtime_metrics,
    ));
    background.spawn(super::gc_drive::drive(
        shared.clone(),
        gc_queue.clone(),
        cluster.clone(),
        ClusterWatches::new(nomad.clone(), cluster, api_metrics.clone()),
        config.resync_interval,
    ));
    background.spawn(enqueue(
        shared.clone(),
        task_queue.clone(),
        rollout_queue.clone(),
        JobAllocWatches::new(nomad.clone(), store.clone(), api_metrics.clone()),
        file_watcher,
        file_events,
    ));
    background.spawn(resync(
        shared.clone(),
        task_queue.clone(),
        rollout_queue.clone(),
        config.resync_interval,
    ));

    shutdown.await;
    tracing::info!("stopping: no new reconciles; releasing locks and the session");
    task_queue.shut_down();
    rollout_queue.shut_down();
    gc_queue.shut_down();
    if let Some(logs) = &logs {
        logs.stop_reconciles();
    }
    let drained = tokio::time::timeout(config.shutdown_timeout / 2, async {
        while controllers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("reconciles still running at shutdown were abandoned");
        controllers.abort_all();
    }
    background.abort_all();
    let session_id = shared.session.borrow().clone();
    let release = async {
        if let Some(id) = session_id {
            release_held(&consul, &store, &shared.ctx.prefix, &id).await;
        }
        session.shutdown().await;
    };
    let ship = async {
        if let Some(logs) = logs {
            logs.shutdown().await;
        }
    };
    tokio::join!(release, ship);
    Ok(())
}

fn registration(config: &Config, node: &NodeFacts, prefix: &Prefix) -> Registration {
    let value = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        "node_id": node.id,
        "config": {
            "session_ttl": humantime::format_duration(config.consul.session_ttl).to_string(),
            "lock_delay": humantime::format_duration(config.consul.lock_delay).to_string(),
            "max_parallel": config.defaults.max_parallel,
            "restart_method": config.defaults.restart_method.as_str(),
        },
    });
    Registration {
        key: Key::Agent {
            node: node.name.clone(),
        }
        .render(prefix),
        value: value.to_string().into_bytes(),
    }
}

/// Turns every change (store, session, rendered files) into reconcile keys; keeps the job
/// watches and file watches in line with what runs on the node.
async fn enqueue(
    shared: Arc<Shared>,
    tasks: WorkQueue<TaskKey>,
    rollouts: WorkQueue<TaskId>,
    mut jobs: JobAllocWatches,
    mut files: FileWatcher,
    mut file_events: mpsc::UnboundedReceiver<PathBuf>,
) {
    let mut changes = shared.store.subscribe();
    let mut session = shared.session.clone();
    let mut file_owner: HashMap<PathBuf, TaskKey> = HashMap::new();
    loop {
        let wanted = current(&shared);
        jobs.sync(&wanted.jobs);
        sync_files(&mut files, &mut file_owner, &wanted);
        for key in wanted.tasks {
            tasks.add(key);
        }
        for task in wanted.rollouts {
            rollouts.add(task);
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            changed = session.changed() => if changed.is_err() { return },
            path = file_events.recv() => match path {
                // A rendered file changed: only its task needs a look (the loop re-adds all
                // keys, which the queue deduplicates; the store did not change).
                Some(path) => if let Some(key) = file_owner.get(&path) { tasks.add(key.clone()) },
                None => return,
            },
        }
    }
}

fn current(shared: &Shared) -> Wanted {
    let observed = shared.store.read();
    wanted(
        &observed,
        &shared.ctx,
        &shared.alloc_dir,
        shared.session().as_ref(),
    )
}

fn sync_files(files: &mut FileWatcher, owner: &mut HashMap<PathBuf, TaskKey>, wanted: &Wanted) {
    owner.retain(|path, _| {
        let keep = wanted.files.contains_key(path);
        if !keep {
            files.unwatch(path);
        }
        keep
    });
    for (path, key) in &wanted.files {
        // A directory that does not exist yet is retried on the next change or resync.
        match files.watch(path) {
            Ok(true) => {
                owner.insert(path.clone(), key.clone());
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot watch file"),
        }
    }
}

/// Re-adds every key every `interval`: the safety net of a level-triggered controller.
async fn resync(
    shared: Arc<Shared>,
    tasks: WorkQueue<TaskKey>,
    rollouts: WorkQueue<TaskId>,
    interval: Duration,
) {
    let task_keys = {
        let shared = shared.clone();
        move || current(&shared).tasks.into_iter().collect()
    };
    let rollout_keys = move || current(&shared).rollouts.into_iter().collect();
    tokio::join!(
        controller::resync(tasks, interval, task_keys),
        controller::resync(rollouts, interval, rollout_keys),
    );
}

/// Releases every lock under the prefix that `session` holds, resending each value and flags,
/// so other agents can take them at once (destroying the session would impose the lock delay).
async fn release_held(consul: &ConsulClient, store: &Store, prefix: &Prefix, session: &str) {
    let held: Vec<_> = store
        .read()
        .kv
        .iter()
        .flatten()
        .filter(|(key, pair)| {
            pair.session.as_deref() == Some(session)
                && !matches!(parse(prefix, key), Ok(Key::Agent { .. }))
        })
        .map(|(_, pair)| pair.clone())
        .collect();
    for pair in held {
        match consul
            .kv_release(&pair.key, session, &pair.value, pair.flags)
            .await
        {
            Ok(()) => tracing::info!(key = %pair.key, "released"),
            Err(e) => tracing::warn!(key = %pair.key, error = %e, "cannot release"),
        }
    }
}
