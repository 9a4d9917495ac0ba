//! `shepard agent`: builds the clients from the configuration and runs the agent's tasks until
//! shutdown.

pub mod clients;
pub mod consul_probe;
pub mod session;

use std::future::Future;

use prometheus::Registry;

use crate::api_metrics::ApiMetrics;
use crate::config::Config;
use crate::telemetry::{Readiness, readiness};

/// Errors that stop the agent from starting.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A client could not be built from the configuration.
    #[error(transparent)]
    Client(#[from] clients::ClientError),
    /// Metric definitions collided in the registry.
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Runs the agent: registers its metrics in `registry` and its readiness conditions in
/// `readiness`, and returns once `shutdown` resolves and its own clean-up is done.
pub async fn run(
    config: &Config,
    registry: &Registry,
    readiness: &Readiness,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let api_metrics = ApiMetrics::register(registry)?;
    let consul = clients::consul(config, api_metrics.clone())?;
    let probe = tokio::spawn(consul_probe::run(
        consul,
        config.consul.prefix.clone(),
        readiness.register(readiness::CONSUL),
        api_metrics,
    ));
    shutdown.await;
    probe.abort();
    Ok(())
}
