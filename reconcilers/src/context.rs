//! What every reconcile needs to know about the agent running it: its node, the KV prefix and
//! the configured defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::Prefix;
use crate::settings::AgentDefaults;

/// The agent's own facts and configuration, fixed for its lifetime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// This agent's node name (`node.unique.name`).
    pub node: String,
    /// The KV prefix (config `consul.prefix`).
    pub prefix: Prefix,
    /// Defaults for per-task settings.
    pub defaults: AgentDefaults,
    /// How long a node must be down or absent before GC removes its keys.
    #[serde(with = "humantime_serde")]
    pub node_cleanup_timeout: Duration,
}

impl Context {
    /// A context with the default prefix, defaults and a 24 h node cleanup timeout.
    pub fn new(node: &str) -> Self {
        Context {
            node: node.to_owned(),
            prefix: Prefix::default(),
            defaults: AgentDefaults::default(),
            node_cleanup_timeout: Duration::from_secs(24 * 3600),
        }
    }
}
