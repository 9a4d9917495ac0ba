//! `shepard agent`: finds its node, keeps its session, runs the watches, and runs the task,
//! rollout and GC reconcilers over their work queues until shutdown; then releases what it
//! holds.

pub mod clients;
pub mod gc;
pub mod gc_drive;
pub mod gc_metrics;
mod gc_recent;
pub mod gc_snapshot;
pub mod ids;
pub mod keys;
pub mod logs;
pub mod metrics;
pub mod rollout;
pub mod session;
pub mod shared;
pub mod snapshot;
mod start;
pub mod task;
pub mod trigger_sites;
mod wiring;

use std::future::Future;

use prometheus::Registry;

use crate::config::Config;
use crate::telemetry::Readiness;

/// Errors that stop the agent from starting.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A client could not be built from the configuration.
    #[error(transparent)]
    Client(#[from] clients::ClientError),
    /// Metric definitions collided in the registry.
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The file watcher could not be started.
    #[error(transparent)]
    FileWatch(#[from] crate::observe::file_watcher::FileWatchError),
    /// Log forwarding could not start.
    #[error(transparent)]
    Logs(#[from] logs::LogsError),
}

/// Runs the agent: registers its metrics in `registry` and its readiness conditions in
/// `readiness`, and returns once `shutdown` resolves and its own clean-up is done.
pub async fn run(
    config: &Config,
    registry: &Registry,
    readiness: &Readiness,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    wiring::run(config, registry, readiness, shutdown).await
}
