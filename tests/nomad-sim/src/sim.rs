//! The simulated cluster as a whole: configuration, the state store, the Consul client, the
//! per-node clients that run allocations, and the fault switches. Turns the scheduler's
//! outcomes into work for the node clients.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::clock::{NodeClock, now_nanos};
use crate::consul::Consul;
use crate::ids::uuid;
use crate::model::node::{Node, NodeEvent};
use crate::runtime::NodeClient;
use crate::scheduler::Outcome;
use crate::state::{Inner, Store};

/// What the command line decides.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub consul_addr: String,
    pub nodes: usize,
    pub base_port: u16,
    pub host: String,
    pub data_dir: PathBuf,
    pub datacenter: String,
    pub region: String,
}

/// Fault switches of one node's API port.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fault {
    /// Answer every Nomad API request with this status (`text/plain` "simulated fault").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Delay every Nomad API request by this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

pub struct Sim {
    pub config: SimConfig,
    pub store: Store,
    pub consul: Consul,
    pub clients: Vec<NodeClient>,
    faults: Mutex<Vec<Fault>>,
    /// Each node's wall clock, by node ID.
    clocks: std::collections::HashMap<String, NodeClock>,
}

impl Sim {
    /// Builds the cluster: node `i` is `sim-node-<i>`, with the ID kept in its data dir (as a
    /// Nomad client keeps `client-id`), so restarts of the simulator keep node IDs.
    pub fn new(config: SimConfig) -> std::io::Result<Arc<Self>> {
        let mut inner = Inner::default();
        let now = now_nanos();
        for i in 0..config.nodes {
            let name = format!("sim-node-{i}");
            let data_dir = config.data_dir.join(&name);
            std::fs::create_dir_all(data_dir.join("client"))?;
            std::fs::create_dir_all(data_dir.join("alloc"))?;
            let id_file = data_dir.join("client").join("client-id");
            let id = match std::fs::read_to_string(&id_file) {
                Ok(id) if id.trim().len() == 36 => id.trim().to_string(),
                _ => {
                    let id = uuid();
                    std::fs::write(&id_file, &id)?;
                    id
                }
            };
            let index = inner.next_index();
            inner.nodes.push(Node {
                id,
                name,
                datacenter: config.datacenter.clone(),
                region: config.region.clone(),
                http_addr: format!("{}:{}", config.host, usize::from(config.base_port) + i),
                data_dir,
                status: "ready".into(),
                status_updated_at: now / 1_000_000_000,
                events: vec![NodeEvent {
                    message: "Node registered".into(),
                    subsystem: "Cluster".into(),
                    timestamp: now,
                    create_index: index,
                }],
                create_index: index,
                modify_index: index,
            });
            inner.nodes_index = index;
        }
        inner.allocs_index = inner.index;
        inner.jobs_index = inner.index;
        inner.deployments_index = inner.index;
        let consul = Consul::new(&config.consul_addr);
        let clients = (0..config.nodes).map(NodeClient::new).collect();
        let faults = Mutex::new(vec![Fault::default(); config.nodes]);
        let clocks = inner
            .nodes
            .iter()
            .map(|n| (n.id.clone(), NodeClock::default()))
            .collect();
        Ok(Arc::new(Self {
            config,
            store: Store::new(inner),
            consul,
            clients,
            faults,
            clocks,
        }))
    }

    pub fn fault(&self, node: usize) -> Fault {
        let faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        faults.get(node).cloned().unwrap_or_default()
    }

    pub fn set_fault(&self, node: usize, fault: Fault) {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = faults.get_mut(node) {
            *slot = fault;
        }
    }

    /// The wall clock of the node with this ID (true time for an unknown node).
    pub fn clock_of(&self, node_id: &str) -> NodeClock {
        self.clocks.get(node_id).cloned().unwrap_or_default()
    }

    fn client_of(&self, alloc_id: &str) -> Option<&NodeClient> {
        let node = self.store.read(|s| {
            let alloc = s.allocs.get(alloc_id)?;
            s.node_position(&alloc.node_id)
        })?;
        self.clients.get(node)
    }

    /// Hands the scheduler's decisions to the node clients: stops first, then starts.
    pub fn dispatch(self: &Arc<Self>, outcome: Outcome) {
        for id in &outcome.stop {
            let lost = self
                .store
                .read(|s| s.allocs.get(id).is_some_and(|a| a.client_status == "lost"));
            if lost {
                // The node is gone: its processes die without anything being reported.
                let (sim, id) = (self.clone(), id.clone());
                tokio::spawn(async move {
                    if let Some(client) = sim.client_of(&id) {
                        client.stop_silently(&id).await;
                    }
                });
            } else if let Some(client) = self.client_of(id) {
                client.stop(id);
            }
        }
        for id in &outcome.start {
            if let Some(client) = self.client_of(id) {
                client.start(self.clone(), id);
            }
        }
    }

    /// The client's alloc restart: one task (`task`), all tasks (`all`), or the running ones.
    pub async fn restart_alloc(
        &self,
        alloc_id: &str,
        task: Option<String>,
        all: bool,
    ) -> Result<(), (u16, String)> {
        let unknown = || (404, format!("Unknown allocation {alloc_id:?}"));
        let client = self.client_of(alloc_id).ok_or_else(unknown)?;
        let node_down = self.store.read(|s| {
            s.allocs
                .get(alloc_id)
                .and_then(|a| s.node_by_id(&a.node_id))
                .is_some_and(|n| n.status == "down")
        });
        if node_down {
            return Err((404, "No path to node".into()));
        }
        client.restart(alloc_id, task, all).await
    }

    /// Fault: SIGKILL one task's (or every task's) process group.
    pub fn crash_alloc(
        &self,
        alloc_id: &str,
        task: Option<&str>,
    ) -> Result<Vec<String>, (u16, String)> {
        let client = self
            .client_of(alloc_id)
            .ok_or_else(|| (404, format!("Unknown allocation {alloc_id:?}")))?;
        client.crash(alloc_id, task)
    }

    /// Kills every task process (used on shutdown); services are left for Consul to drop.
    pub async fn shutdown(&self) {
        for client in &self.clients {
            client.shutdown().await;
        }
    }
}
