//! `NomadClient::local_node`: the facts about the node shepard runs on, from the local agent
//! (`/v1/agent/self`) and, when the agent has no configured node name, from the node itself.

use std::path::PathBuf;

use super::client::NomadClient;
use super::error::NomadError;
use super::models::AgentSelf;
use crate::blocking::BlockingParams;

/// The Nomad client node of the agent shepard talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNode {
    pub id: String,
    /// The effective name (`node.unique.name` inside templates).
    pub name: String,
    pub datacenter: String,
    pub region: String,
    /// Where the node keeps allocation directories; `None` for a `-dev` agent.
    pub alloc_dir: Option<PathBuf>,
    /// The agent's full self document, for anything else.
    pub agent: AgentSelf,
}

impl NomadClient {
    /// Reads the local agent and, if its config names no node, the node's own record for the
    /// name the client picked (the host name). Fails with [`NomadError::NotAClient`] when the
    /// agent runs no client.
    pub async fn local_node(&self) -> Result<LocalNode, NomadError> {
        let agent = self.agent_self().await?;
        let id = agent
            .node_id()
            .ok_or_else(|| NomadError::NotAClient {
                address: self.address().to_string(),
            })?
            .to_string();
        let name = match agent.configured_node_name() {
            Some(name) => name.to_string(),
            None => self.node(&id, BlockingParams::default()).await?.value.name,
        };
        Ok(LocalNode {
            datacenter: agent.config.datacenter.clone(),
            region: agent.config.region.clone(),
            alloc_dir: agent.alloc_dir(),
            id,
            name,
            agent,
        })
    }
}
