//! Start-up facts the agent cannot run without: its Nomad node (ID, name, alloc dir) from the
//! local Nomad agent, and the name of the local Consul agent's node (where Nomad registers the
//! allocations' checks). Both are retried with backoff until they answer.

use std::path::PathBuf;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::consul::ConsulClient;
use crate::nomad::NomadClient;
use crate::telemetry::readiness::Condition;

/// This agent's node.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub id: String,
    pub name: String,
    pub datacenter: String,
    pub alloc_dir: PathBuf,
    /// The local Consul agent's node name.
    pub consul_node: String,
}

fn delays() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(15))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Asks the local Nomad and Consul agents who they are, until both answer.
pub async fn discover(
    nomad: &NomadClient,
    consul: &ConsulClient,
    alloc_dir_override: Option<PathBuf>,
    nomad_ready: &Condition,
) -> NodeFacts {
    let mut waits = delays();
    let local = loop {
        match nomad.local_node().await {
            Ok(local) => break local,
            Err(e) => {
                nomad_ready.set_not_ready(format!("Nomad: {e}"));
                let wait = waits.next().unwrap_or(Duration::from_secs(15));
                tracing::warn!(error = %e, retry_in = ?wait, "cannot read the local Nomad agent");
                tokio::time::sleep(wait).await;
            }
        }
    };
    let mut waits = delays();
    let consul_node = loop {
        match consul.agent_self().await {
            Ok(me) => break me.config.node_name,
            Err(e) => {
                let wait = waits.next().unwrap_or(Duration::from_secs(15));
                tracing::warn!(error = %e, retry_in = ?wait, "cannot read the local Consul agent");
                tokio::time::sleep(wait).await;
            }
        }
    };
    // Nomad's own default when the agent does not report one: `<data_dir>/alloc`.
    let alloc_dir = alloc_dir_override
        .or(local.alloc_dir)
        .unwrap_or_else(|| PathBuf::from("/var/lib/nomad/alloc"));
    NodeFacts {
        id: local.id,
        name: local.name,
        datacenter: local.datacenter,
        alloc_dir,
        consul_node,
    }
}
