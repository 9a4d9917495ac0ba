//! `Allocation` (`GET /v1/allocation/:id`, `GET /v1/node/:id/allocations`) and
//! `AllocListStub` (`GET /v1/job/:id/allocations`, `GET /v1/allocations`).
//!
//! A full `Allocation` is encoded with omit-empty on every field, so any field may be missing:
//! every struct here is `#[serde(default)]`, and unknown fields are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::job::Job;
use super::nullable;
use super::string_enum::string_enum;
use super::task_state::TaskState;
use super::time::{UtcTime, rfc3339_or_null, unix_nanos};

string_enum! {
    /// `Allocation.ClientStatus`: what the node reports.
    pub enum ClientStatus {
        Pending = "pending",
        Running = "running",
        Complete = "complete",
        Failed = "failed",
        Lost = "lost",
        Unknown = "unknown",
    }
}

string_enum! {
    /// `Allocation.DesiredStatus`: what the scheduler wants.
    pub enum DesiredStatus {
        Run = "run",
        Stop = "stop",
        Evict = "evict",
    }
}

/// An omitted status is an empty string on the server.
impl Default for ClientStatus {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

impl Default for DesiredStatus {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

/// `Allocation`, reduced to what shepard reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Allocation {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// `<job>.<group>[<index>]`; see [`Allocation::alloc_index`].
    pub name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// The job version this allocation runs (left out of event-stream payloads).
    pub job: Option<Box<Job>>,
    pub task_group: String,
    pub desired_status: DesiredStatus,
    pub desired_description: String,
    pub client_status: ClientStatus,
    pub client_description: String,
    #[serde(deserialize_with = "nullable::default")]
    pub task_states: BTreeMap<String, TaskState>,
    pub deployment_status: Option<DeploymentStatus>,
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    pub previous_allocation: String,
    pub next_allocation: String,
    #[serde(rename = "FollowupEvalID")]
    pub followup_eval_id: String,
    pub create_index: u64,
    /// Bumped by every client update (task states, client status).
    pub modify_index: u64,
    /// Bumped only by server-side changes to the allocation.
    pub alloc_modify_index: u64,
    #[serde(with = "unix_nanos")]
    pub create_time: UtcTime,
    #[serde(with = "unix_nanos")]
    pub modify_time: UtcTime,
}

/// `AllocListStub`: the list form, without the job and resources. Every field is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocationListStub {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub name: String,
    pub namespace: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_type: String,
    pub job_version: u64,
    pub task_group: String,
    pub desired_status: DesiredStatus,
    pub desired_description: String,
    pub client_status: ClientStatus,
    pub client_description: String,
    #[serde(deserialize_with = "nullable::default")]
    pub task_states: BTreeMap<String, TaskState>,
    pub deployment_status: Option<DeploymentStatus>,
    #[serde(rename = "FollowupEvalID")]
    pub followup_eval_id: String,
    pub next_allocation: String,
    pub create_index: u64,
    pub modify_index: u64,
    #[serde(with = "unix_nanos")]
    pub create_time: UtcTime,
    #[serde(with = "unix_nanos")]
    pub modify_time: UtcTime,
}

/// `AllocDeploymentStatus`: the deployment watcher's health verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DeploymentStatus {
    /// `None` until the deployment watcher has decided.
    pub healthy: Option<bool>,
    #[serde(with = "rfc3339_or_null")]
    pub timestamp: Option<UtcTime>,
    pub canary: bool,
    pub modify_index: u64,
}

impl Allocation {
    /// The allocation's index within its group (`NOMAD_ALLOC_INDEX`), parsed from `Name`.
    pub fn alloc_index(&self) -> Option<u32> {
        alloc_index_from_name(&self.name)
    }

    /// The state of `task`, if the client has reported one.
    pub fn task_state(&self, task: &str) -> Option<&TaskState> {
        self.task_states.get(task)
    }
}

impl AllocationListStub {
    /// The allocation's index within its group (`NOMAD_ALLOC_INDEX`), parsed from `Name`.
    pub fn alloc_index(&self) -> Option<u32> {
        alloc_index_from_name(&self.name)
    }
}

/// Nomad keeps no separate index field: it is the number in the `[...]` that ends the
/// allocation name (`job.group[3]`). Job and group names may themselves contain brackets,
/// so only the last pair counts.
pub fn alloc_index_from_name(name: &str) -> Option<u32> {
    let open = name.strip_suffix(']')?.rfind('[')?;
    name[open + 1..name.len() - 1].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_index_is_the_last_bracketed_number() {
        assert_eq!(alloc_index_from_name("example.cache[0]"), Some(0));
        assert_eq!(alloc_index_from_name("a[1].b[12]"), Some(12));
        assert_eq!(alloc_index_from_name("example.cache"), None);
        assert_eq!(alloc_index_from_name("example.cache[x]"), None);
        assert_eq!(alloc_index_from_name("]"), None);
    }

    #[test]
    fn omitted_fields_take_their_zero_values() {
        let a: Allocation = serde_json::from_str(r#"{"ID":"a1","Name":"j.g[2]"}"#).unwrap();
        assert_eq!(a.id, "a1");
        assert_eq!(a.alloc_index(), Some(2));
        assert_eq!(a.client_status, ClientStatus::Other(String::new()));
        assert!(a.task_states.is_empty() && a.job.is_none());
        assert_eq!(a.create_time, UtcTime::UNIX_EPOCH);
    }
}
