//! The local Consul agent's own facts (`/v1/agent/self`): the node name its checks are
//! registered under, which the agent's health watch follows.

use reqwest::Method;
use serde::Deserialize;

use crate::consul::client::{Call, ConsulClient};
use crate::consul::error::ConsulError;

/// The parts of `/v1/agent/self` shepard reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgentSelf {
    #[serde(rename = "Config")]
    pub config: AgentSelfConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentSelfConfig {
    pub datacenter: String,
    pub node_name: String,
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
}

impl ConsulClient {
    /// `GET /v1/agent/self` of the agent this client talks to.
    pub async fn agent_self(&self) -> Result<AgentSelf, ConsulError> {
        let reply = self
            .send_ok(Call::new(
                "agent_self",
                Method::GET,
                "/v1/agent/self".into(),
            ))
            .await?;
        reply.json()
    }
}
