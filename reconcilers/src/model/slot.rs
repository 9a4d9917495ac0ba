//! Values of the lock keys: who holds a restart slot (`restart_lock/<n>`) and who leads a
//! rollout (`task_lock`). JSON in Consul.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Value of `locks/…/restart_lock/<n>` while held: `{alloc_id, node, acquired_at}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotHolder {
    /// The allocation the slot is held for.
    pub alloc_id: String,
    /// The node of that allocation.
    pub node: String,
    /// When the slot was acquired.
    pub acquired_at: Timestamp,
}

/// Value of `locks/…/task_lock` while held: the leading agent's node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The leader's node name.
    pub node: String,
    /// When the lock was acquired.
    pub acquired_at: Timestamp,
}

impl SlotHolder {
    /// The JSON value to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl LockHolder {
    /// The JSON value to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
