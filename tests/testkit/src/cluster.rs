//! A whole test world: a real Consul, nomad-sim with N nodes, and one real `shepard agent` per
//! node, each pointed at its node's local Nomad API, as in production.

use std::path::Path;

use crate::{AgentProcess, ConsulDev, ConsulDevOptions, NomadSim, locate_binary};

/// Consul, the simulated cluster and its agents; everything stops on drop.
pub struct Cluster {
    pub agents: Vec<AgentProcess>,
    pub sim: NomadSim,
    pub consul: ConsulDev,
}

impl Cluster {
    /// Starts the world with `nodes` nodes; `agent_args` are added to every agent's command line.
    pub fn start(shepard: &Path, nodes: usize, agent_args: &[&str]) -> Self {
        Self::start_with(shepard, nodes, agent_args, ConsulDevOptions::default())
    }

    /// As [`Cluster::start`], with a Consul started with `consul_options`.
    pub fn start_with(
        shepard: &Path,
        nodes: usize,
        agent_args: &[&str],
        consul_options: ConsulDevOptions,
    ) -> Self {
        let consul = ConsulDev::start_with(consul_options);
        let sim = NomadSim::start(&locate_binary("nomad-sim"), &consul.http_addr(), nodes);
        let agents = sim
            .nodes()
            .iter()
            .map(|node| start_agent(shepard, &consul, &node.addr, agent_args))
            .collect();
        Self {
            agents,
            sim,
            consul,
        }
    }

    /// Starts (again) the agent of node `i`, replacing the handle.
    pub fn restart_agent(&mut self, shepard: &Path, i: usize, agent_args: &[&str]) {
        let addr = self.sim.nodes()[i].addr.clone();
        self.agents[i] = start_agent(shepard, &self.consul, &addr, agent_args);
    }
}

fn start_agent(
    shepard: &Path,
    consul: &ConsulDev,
    nomad_addr: &str,
    extra: &[&str],
) -> AgentProcess {
    let consul_addr = consul.http_addr();
    let data_dir = tempfile::tempdir().expect("agent data dir").keep();
    let data_dir = data_dir.display().to_string();
    let mut args = vec![
        "--consul-addr",
        consul_addr.as_str(),
        "--nomad-addr",
        nomad_addr,
        "--data-dir",
        data_dir.as_str(),
        "--log-level",
        "info,shepard=debug",
    ];
    args.extend_from_slice(extra);
    AgentProcess::start(shepard, &args, &[])
}
