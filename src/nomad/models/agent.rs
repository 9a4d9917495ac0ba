//! `GET /v1/agent/self` of the local agent: which node shepard runs on (ID, name) and where
//! that node keeps its allocations on disk.
//!
//! Only `config`, `member` and `stats` are lower-case at the top; inside `config` the keys are
//! Go field names. On a client the node ID is only in `stats.client.node_id` (all `stats`
//! values are strings), and `config.NodeName` is empty unless configured (the client then
//! uses the host name: read the node for its effective name).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::nullable;

/// The `/v1/agent/self` document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct AgentSelf {
    pub config: AgentConfig,
    /// The server's serf member; all-empty on a client-only agent.
    pub member: AgentMember,
    /// Subsystem → stat → value, all strings (`client.node_id`, `nomad.leader`, …).
    #[serde(deserialize_with = "nullable::default")]
    pub stats: BTreeMap<String, BTreeMap<String, String>>,
}

/// The agent's effective configuration, reduced to what shepard reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AgentConfig {
    pub region: String,
    pub datacenter: String,
    /// The configured node name; `""` when the client uses the host name.
    pub node_name: String,
    /// `""` in `-dev` mode, where everything lives in a temporary directory.
    pub data_dir: String,
    pub client: Option<AgentClientConfig>,
}

/// `config.Client`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AgentClientConfig {
    pub enabled: bool,
    /// Explicit `alloc_dir`; `""` means `<DataDir>/alloc`.
    pub alloc_dir: String,
    /// Explicit `state_dir`; `""` means `<DataDir>/client`.
    pub state_dir: String,
    pub node_class: String,
    #[serde(deserialize_with = "nullable::default")]
    pub meta: BTreeMap<String, String>,
}

/// `member`: the server's serf member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AgentMember {
    pub name: String,
    #[serde(deserialize_with = "nullable::default")]
    pub addr: String,
    pub port: u16,
    pub status: String,
    #[serde(deserialize_with = "nullable::default")]
    pub tags: BTreeMap<String, String>,
}

impl AgentSelf {
    /// The ID of this agent's client node, if the agent runs a client.
    pub fn node_id(&self) -> Option<&str> {
        self.stat("client", "node_id")
    }

    /// The configured node name, if one was set (see the module doc otherwise).
    pub fn configured_node_name(&self) -> Option<&str> {
        Some(self.config.node_name.as_str()).filter(|n| !n.is_empty())
    }

    /// One `stats` value.
    pub fn stat(&self, subsystem: &str, name: &str) -> Option<&str> {
        let value = self.stats.get(subsystem)?.get(name)?;
        Some(value.as_str()).filter(|v| !v.is_empty())
    }

    /// Where the client keeps allocation directories: `Client.AllocDir`, else
    /// `<DataDir>/alloc` (Nomad's `convertClientConfig`). `None` when neither is known.
    pub fn alloc_dir(&self) -> Option<PathBuf> {
        self.client_dir(|c| &c.alloc_dir, "alloc")
    }

    /// Where the client keeps its state: `Client.StateDir`, else `<DataDir>/client`.
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.client_dir(|c| &c.state_dir, "client")
    }

    fn client_dir(
        &self,
        explicit: impl Fn(&AgentClientConfig) -> &String,
        under_data_dir: &str,
    ) -> Option<PathBuf> {
        let configured = self.config.client.as_ref().map(explicit);
        match configured.filter(|d| !d.is_empty()) {
            Some(dir) => Some(PathBuf::from(dir)),
            None if !self.config.data_dir.is_empty() => {
                Some(Path::new(&self.config.data_dir).join(under_data_dir))
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_default_under_the_data_dir() {
        let a: AgentSelf = serde_json::from_str(
            r#"{"config":{"DataDir":"/opt/nomad","Client":{"AllocDir":"","StateDir":"/s"}},
                "member":{"Addr":null,"Tags":null},"stats":{"client":{"node_id":"n1"}}}"#,
        )
        .unwrap();
        assert_eq!(a.alloc_dir(), Some(PathBuf::from("/opt/nomad/alloc")));
        assert_eq!(a.state_dir(), Some(PathBuf::from("/s")));
        assert_eq!(a.node_id(), Some("n1"));
        assert_eq!(a.configured_node_name(), None);
    }

    #[test]
    fn dev_mode_has_no_dirs() {
        let a: AgentSelf = serde_json::from_str(r#"{"config":{"DataDir":""}}"#).unwrap();
        assert_eq!(a.alloc_dir(), None);
        assert_eq!(a.node_id(), None);
    }
}
