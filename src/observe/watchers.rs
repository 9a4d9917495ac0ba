//! The blocking-query watches that keep the [`Store`] current: this node's allocations, the
//! cluster-wide allocations of each job with a managed task here, the KV prefix, and the checks
//! of this node's Consul agent. Each runs forever on [`crate::watch::watch`] (index rules,
//! backoff, rate limit); a failed call is logged and the watch carries on. The KV watch also
//! keeps the `consul` readiness condition, and the node-allocations watch the `nomad` one: an
//! answer means reachable, a failure means not.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinHandle;

use super::store::{JobRef, Store};
use crate::api_metrics::{Api, ApiMetrics};
use crate::consul::ConsulClient;
use crate::nomad::NomadClient;
use crate::telemetry::readiness::Condition;
use crate::watch::{WatchConfig, watch};

/// How long each Consul blocking query may be held.
pub const CONSUL_WAIT: Duration = Duration::from_secs(300);
/// How long each Nomad blocking query may be held (Nomad's cap).
pub const NOMAD_WAIT: Duration = crate::nomad::MAX_WAIT;

/// Marks `condition` after every call of a watch.
fn report<T, E: std::fmt::Display>(condition: &Condition, what: &str, answer: &Result<T, E>) {
    match answer {
        Ok(_) => condition.set_ready(),
        Err(e) => condition.set_not_ready(format!("{what}: {e}")),
    }
}

/// Watches every key under `prefix`.
pub async fn kv(
    consul: ConsulClient,
    prefix: String,
    store: Store,
    condition: Condition,
    metrics: ApiMetrics,
) {
    let config = WatchConfig::new(Api::Consul, format!("kv:{prefix}"), CONSUL_WAIT);
    let snapshots = watch(config, metrics, move |params| {
        let (consul, prefix, condition) = (consul.clone(), prefix.clone(), condition.clone());
        async move {
            let answer = consul.kv_list_blocking(&prefix, params).await;
            report(&condition, "Consul", &answer);
            answer
        }
    });
    snapshots
        .for_each(|snapshot| {
            match snapshot {
                Ok(indexed) => store.set_kv(indexed.value),
                Err(e) => tracing::warn!(error = %e, "KV watch failed"),
            }
            async {}
        })
        .await;
}

/// Watches the checks of Consul node `node` (the local Consul agent's node).
pub async fn checks(consul: ConsulClient, node: String, store: Store, metrics: ApiMetrics) {
    let config = WatchConfig::new(Api::Consul, format!("health:{node}"), CONSUL_WAIT);
    let snapshots = watch(config, metrics, move |params| {
        let (consul, node) = (consul.clone(), node.clone());
        async move { consul.health_node(&node, params).await }
    });
    snapshots
        .for_each(|snapshot| {
            match snapshot {
                Ok(indexed) => {
                    let reading = store.now();
                    store.set_checks(indexed.value, reading);
                }
                Err(e) => tracing::warn!(error = %e, "health watch failed"),
            }
            async {}
        })
        .await;
}

/// Watches the allocations of Nomad node `node_id`.
pub async fn node_allocs(
    nomad: NomadClient,
    node_id: String,
    store: Store,
    condition: Condition,
    metrics: ApiMetrics,
) {
    let config = WatchConfig::new(Api::Nomad, "node_allocations", NOMAD_WAIT);
    let snapshots = watch(config, metrics, move |params| {
        let (nomad, node_id, condition) = (nomad.clone(), node_id.clone(), condition.clone());
        async move {
            let answer = nomad.node_allocations(&node_id, params).await;
            report(&condition, "Nomad", &answer);
            answer
        }
    });
    snapshots
        .for_each(|snapshot| {
            match snapshot {
                Ok(indexed) => store.set_node_allocs(indexed.value),
                Err(e) => tracing::warn!(error = %e, "node allocations watch failed"),
            }
            async {}
        })
        .await;
}

/// The set of running job-allocation watches, one per job with a managed task on this node.
pub struct JobAllocWatches {
    nomad: NomadClient,
    store: Store,
    metrics: ApiMetrics,
    running: HashMap<JobRef, JoinHandle<()>>,
}

impl JobAllocWatches {
    pub fn new(nomad: NomadClient, store: Store, metrics: ApiMetrics) -> Self {
        Self {
            nomad,
            store,
            metrics,
            running: HashMap::new(),
        }
    }

    /// Starts watches for jobs newly in `wanted` and stops those no longer in it.
    pub fn sync(&mut self, wanted: &HashSet<JobRef>) {
        let gone: Vec<JobRef> = self
            .running
            .keys()
            .filter(|job| !wanted.contains(*job))
            .cloned()
            .collect();
        for job in gone {
            if let Some(task) = self.running.remove(&job) {
                task.abort();
            }
            self.store.remove_job_allocs(&job);
        }
        for job in wanted {
            if !self.running.contains_key(job) {
                let task = tokio::spawn(job_allocs(
                    self.nomad.clone(),
                    job.clone(),
                    self.store.clone(),
                    self.metrics.clone(),
                ));
                self.running.insert(job.clone(), task);
            }
        }
    }
}

impl Drop for JobAllocWatches {
    fn drop(&mut self) {
        for task in self.running.values() {
            task.abort();
        }
    }
}

async fn job_allocs(nomad: NomadClient, job: JobRef, store: Store, metrics: ApiMetrics) {
    let source = format!("job_allocations:{}/{}", job.namespace, job.job_id);
    let config = WatchConfig::new(Api::Nomad, source, NOMAD_WAIT);
    let snapshots = watch(config, metrics, {
        let job = job.clone();
        move |params| {
            let (nomad, job) = (nomad.clone(), job.clone());
            async move {
                nomad
                    .job_allocations(Some(&job.namespace), &job.job_id, params)
                    .await
            }
        }
    });
    snapshots
        .for_each(|snapshot| {
            match snapshot {
                Ok(indexed) => store.set_job_allocs(job.clone(), indexed.value),
                Err(e) => {
                    tracing::warn!(job = %job.job_id, error = %e, "job allocations watch failed")
                }
            }
            async {}
        })
        .await;
}
