//! Identities: a task across the cluster (`TaskId`, the rollout's unit), one allocation on one
//! node (`AllocRef`), and a Consul session (`SessionId`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One task of one group of one job: what a rollout covers, across every node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskId {
    /// Nomad namespace.
    pub namespace: String,
    /// Nomad job ID.
    pub job: String,
    /// Task group name.
    pub group: String,
    /// Task name.
    pub task: String,
}

impl TaskId {
    /// A task identity from its four names.
    pub fn new(namespace: &str, job: &str, group: &str, task: &str) -> Self {
        TaskId {
            namespace: namespace.to_owned(),
            job: job.to_owned(),
            group: group.to_owned(),
            task: task.to_owned(),
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.namespace, self.job, self.group, self.task
        )
    }
}

/// One allocation: its ID, its index within the group (`NOMAD_ALLOC_INDEX`) and the name of
/// the node it runs on (`node.unique.name`, which the trigger key uses).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AllocRef {
    /// Allocation ID (a UUID).
    pub id: String,
    /// Allocation index within its task group.
    pub index: u32,
    /// Name of the node running it.
    pub node: String,
}

/// A Consul session ID.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub String);

impl SessionId {
    /// The ID as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
