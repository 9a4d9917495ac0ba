//! Runs one reconciler over its work queue: a fixed number of workers take keys, reconcile
//! them inside a tracing span that carries the key, and put the outcome back into the queue —
//! `requeue_after` as a schedule, an error as a retry with the key's backoff. Also the periodic
//! resync that re-adds every known key, the safety net of a level-triggered controller.

use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::metrics::{ReconcileResult, RuntimeMetrics};
use super::workqueue::WorkQueue;

/// One reconciler, as the runtime sees it: a name for metrics and logs, and an idempotent
/// function from a key to "done, maybe come back after this long".
pub trait Reconciler<K>: Send + Sync + 'static {
    type Error: Display + Send;

    /// The `reconciler` label: `task`, `rollout`, `gc`, `logs`, `agent`.
    fn name(&self) -> &'static str;

    /// Converges the resource named by `key` one step. `Ok(Some(d))` asks to run again after
    /// `d` even if nothing changes.
    fn reconcile(
        &self,
        key: &K,
    ) -> impl Future<Output = Result<Option<Duration>, Self::Error>> + Send;
}

/// Runs `workers` workers over `queue` until the queue is shut down and every started
/// reconcile has finished.
pub async fn run<K, R>(
    queue: WorkQueue<K>,
    reconciler: Arc<R>,
    workers: usize,
    metrics: RuntimeMetrics,
) where
    K: Clone + Eq + Hash + Display + Send + Sync + 'static,
    R: Reconciler<K>,
{
    let mut set = JoinSet::new();
    for _ in 0..workers.max(1) {
        let (queue, reconciler, metrics) = (queue.clone(), reconciler.clone(), metrics.clone());
        set.spawn(async move {
            while let Some(key) = queue.get().await {
                reconcile_one(&queue, reconciler.as_ref(), &metrics, &key).await;
                queue.done(&key);
            }
        });
    }
    while set.join_next().await.is_some() {}
}

async fn reconcile_one<K, R>(
    queue: &WorkQueue<K>,
    reconciler: &R,
    metrics: &RuntimeMetrics,
    key: &K,
) where
    K: Clone + Eq + Hash + Display,
    R: Reconciler<K>,
{
    let name = reconciler.name();
    let span = tracing::info_span!("reconcile", reconciler = name, key = %key);
    let started = Instant::now();
    let outcome = reconciler.reconcile(key).instrument(span.clone()).await;
    let took = started.elapsed();
    let result = match outcome {
        Ok(None) => {
            queue.forget(key);
            ReconcileResult::Success
        }
        Ok(Some(after)) => {
            queue.forget(key);
            queue.add_after(key.clone(), after);
            ReconcileResult::RequeueAfter
        }
        Err(error) => {
            let retry_in = queue.add_rate_limited(key.clone());
            span.in_scope(|| {
                tracing::warn!(%error, retry_in = ?retry_in, "reconcile failed");
            });
            ReconcileResult::Error
        }
    };
    metrics.observe_reconcile(name, result, took);
}

/// Re-adds every key `keys` returns, every `interval`, until the queue is shut down.
pub async fn resync<K, F>(queue: WorkQueue<K>, interval: Duration, keys: F)
where
    K: Clone + Eq + Hash,
    F: Fn() -> Vec<K>,
{
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if queue.is_shut_down() {
            return;
        }
        for key in keys() {
            queue.add(key);
        }
    }
}

#[cfg(test)]
#[path = "controller_tests.rs"]
mod tests;
