//! `Node` (`GET /v1/node/:id`) and `NodeListStub` (`GET /v1/nodes`): which nodes exist and
//! whether they are up, for garbage collection of a gone node's keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::nullable;
use super::string_enum::string_enum;
use super::time::{UtcTime, unix_secs};

string_enum! {
    /// `Node.Status`.
    pub enum NodeStatus {
        Initializing = "initializing",
        Ready = "ready",
        Down = "down",
        Disconnected = "disconnected",
    }
}

impl Default for NodeStatus {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

/// `Node`, reduced to what shepard reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub datacenter: String,
    pub node_class: String,
    pub node_pool: String,
    #[serde(rename = "HTTPAddr")]
    pub http_addr: String,
    #[serde(rename = "TLSEnabled")]
    pub tls_enabled: bool,
    #[serde(deserialize_with = "nullable::default")]
    pub attributes: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable::default")]
    pub meta: BTreeMap<String, String>,
    pub status: NodeStatus,
    pub status_description: String,
    /// When `Status` last changed; Unix **seconds** on the wire.
    #[serde(with = "unix_secs")]
    pub status_updated_at: UtcTime,
    pub scheduling_eligibility: String,
    /// Legacy flag the server adds: true while a drain strategy is set.
    pub drain: bool,
    pub create_index: u64,
    pub modify_index: u64,
}

/// `NodeListStub`. Carries no `StatusUpdatedAt`: read the [`Node`] for that.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NodeListStub {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
    pub datacenter: String,
    pub node_class: String,
    pub node_pool: String,
    /// Nomad version of the node's agent.
    pub version: String,
    pub status: NodeStatus,
    pub status_description: String,
    pub scheduling_eligibility: String,
    pub drain: bool,
    pub create_index: u64,
    pub modify_index: u64,
}
