//! A whole test world: a real Consul, nomad-sim with N nodes, and one real `shepard agent` per
//! node, each pointed at its node's local Nomad API, as in production. An agent started again
//! keeps its data dir, as a restarted system job's task keeps its host volume.

use std::path::{Path, PathBuf};

use crate::{AgentProcess, ConsulDev, ConsulDevOptions, NomadSim, locate_binary};

/// Consul, the simulated cluster and its agents; everything stops on drop.
pub struct Cluster {
    pub agents: Vec<AgentProcess>,
    pub sim: NomadSim,
    pub consul: ConsulDev,
    /// Each agent's `--data-dir`, by node.
    data_dirs: Vec<PathBuf>,
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
        let data_dirs: Vec<PathBuf> = sim
            .nodes()
            .iter()
            .map(|_| tempfile::tempdir().expect("agent data dir").keep())
            .collect();
        let agents = sim
            .nodes()
            .iter()
            .zip(&data_dirs)
            .map(|(node, data_dir)| {
                start_agent(
                    shepard,
                    &consul.http_addr(),
                    &node.addr,
                    data_dir,
                    agent_args,
                    &[],
                )
            })
            .collect();
        Self {
            agents,
            sim,
            consul,
            data_dirs,
        }
    }

    /// Starts (again) the agent of node `i`, with the same data dir, replacing the handle.
    pub fn restart_agent(&mut self, shepard: &Path, i: usize, agent_args: &[&str]) {
        let consul_addr = self.consul.http_addr();
        self.restart_agent_via(shepard, i, &consul_addr, agent_args);
    }

    /// As [`Cluster::restart_agent`], the agent talking to Consul at `consul_addr` (a proxy).
    pub fn restart_agent_via(
        &mut self,
        shepard: &Path,
        i: usize,
        consul_addr: &str,
        agent_args: &[&str],
    ) {
        self.restart_agent_with_env(shepard, i, consul_addr, agent_args, &[]);
    }

    /// As [`Cluster::restart_agent_via`], with `envs` in the agent's environment (a
    /// [`crate::FakeClock`]'s, say).
    pub fn restart_agent_with_env(
        &mut self,
        shepard: &Path,
        i: usize,
        consul_addr: &str,
        agent_args: &[&str],
        envs: &[(String, String)],
    ) {
        let addr = self.sim.nodes()[i].addr.clone();
        self.agents[i] = start_agent(
            shepard,
            consul_addr,
            &addr,
            &self.data_dirs[i],
            agent_args,
            envs,
        );
    }
}

fn start_agent(
    shepard: &Path,
    consul_addr: &str,
    nomad_addr: &str,
    data_dir: &Path,
    extra: &[&str],
    envs: &[(String, String)],
) -> AgentProcess {
    let data_dir = data_dir.display().to_string();
    let mut args = vec![
        "--consul-addr",
        consul_addr,
        "--nomad-addr",
        nomad_addr,
        "--data-dir",
        data_dir.as_str(),
        "--log-level",
        "info,shepard=debug",
    ];
    args.extend_from_slice(extra);
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    AgentProcess::start(shepard, &args, &envs)
}
