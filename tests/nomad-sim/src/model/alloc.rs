//! An allocation as the servers store it, and its two JSON forms: the full `Allocation`
//! (every empty field left out, as go-msgpack's struct-level omitempty does) and the
//! `AllocListStub` of list endpoints (all fields present).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::deployment::AllocDeploymentStatus;
use super::job::Job;
use super::task_state::{TaskState, client_status};
use crate::encode;

/// A port allocated to an allocation (`AllocatedPortMapping`).
#[derive(Debug, Clone, PartialEq)]
pub struct PortMapping {
    pub label: String,
    pub value: u16,
    pub to: i64,
    pub host_ip: String,
}

#[derive(Debug, Clone)]
pub struct Alloc {
    pub id: String,
    pub eval_id: String,
    pub name: String,
    pub index: u32,
    pub namespace: String,
    pub node_id: String,
    pub node_name: String,
    pub job_id: String,
    /// The job version the alloc was placed for.
    pub job: Arc<Job>,
    pub task_group: String,
    pub desired_status: String,
    pub desired_description: String,
    /// `DesiredTransition.Migrate` (set by `alloc stop`).
    pub migrate: bool,
    pub client_status: String,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
    pub previous_allocation: String,
    pub next_allocation: String,
    pub ports: Vec<PortMapping>,
    /// The deployment that placed the allocation (empty outside deployments).
    pub deployment_id: String,
    pub deployment_status: Option<AllocDeploymentStatus>,
    pub signing_key_id: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub alloc_modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

impl Alloc {
    /// Desired stop or a terminal client status (`Allocation.TerminalStatus`).
    pub fn terminal(&self) -> bool {
        matches!(self.desired_status.as_str(), "stop" | "evict") || self.client_terminal()
    }

    /// `ClientTerminalStatus`: complete, failed or lost.
    pub fn client_terminal(&self) -> bool {
        matches!(self.client_status.as_str(), "complete" | "failed" | "lost")
    }

    /// Recomputes ClientStatus/ClientDescription from the task states.
    pub fn refresh_client_status(&mut self) {
        if self.client_status == "lost" {
            return;
        }
        let (status, description) = client_status(self.task_states.values());
        if !status.is_empty() {
            self.client_status = status;
            self.client_description = description;
        }
    }

    fn task_states_json(&self) -> Value {
        if self.task_states.is_empty() {
            return Value::Null;
        }
        Value::Object(
            self.task_states
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }

    fn deployment_status_json(&self) -> Value {
        self.deployment_status
            .as_ref()
            .map_or(Value::Null, AllocDeploymentStatus::to_json)
    }

    /// `DeploymentStatus.IsCanary`.
    pub fn is_canary(&self) -> bool {
        self.deployment_status.as_ref().is_some_and(|d| d.canary)
    }

    /// `DeploymentStatus.Healthy` (`None` until the client's verdict).
    pub fn healthy(&self) -> Option<bool> {
        self.deployment_status.as_ref().and_then(|d| d.healthy)
    }

    fn desired_transition(&self) -> Value {
        json!({
            "ForceReschedule": null,
            "Migrate": if self.migrate { Value::Bool(true) } else { Value::Null },
            "MigrateDisablePlacement": null,
            "NoShutdownDelay": null,
            "Reschedule": null,
        })
    }

    fn allocated_resources(&self) -> Value {
        let group = self.job.group(&self.task_group);
        let mut tasks = Map::new();
        let mut lifecycles = Map::new();
        for task in group.map(|g| g.tasks.as_slice()).unwrap_or_default() {
            let cpu = task.resources.get("CPU").cloned().unwrap_or(json!(100));
            let mem = task
                .resources
                .get("MemoryMB")
                .cloned()
                .unwrap_or(json!(300));
            tasks.insert(
                task.name.clone(),
                json!({"Cpu": {"CpuShares": cpu, "ReservedCores": null},
                       "Memory": {"MemoryMB": mem, "MemoryMaxMB": 0},
                       "Networks": null, "Devices": null}),
            );
            lifecycles.insert(task.name.clone(), Value::Null);
        }
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|p| {
                let port = json!({"Label": p.label, "Value": p.value, "To": p.to,
                                  "HostIP": p.host_ip, "IgnoreCollision": false});
                Value::Object(encode::omit_empty(
                    port.as_object().cloned().unwrap_or_default(),
                ))
            })
            .collect();
        let mut networks = Value::Null;
        if !self.ports.is_empty() {
            let dynamic: Vec<Value> = self
                .ports
                .iter()
                .map(|p| json!({"Label": p.label, "Value": p.value, "To": p.to, "HostNetwork": "default"}))
                .collect();
            networks = json!([{"Mode": "host", "IP": "127.0.0.1", "DynamicPorts": dynamic}]);
            encode::omit_empty_networks(&mut networks);
        }
        let disk = group
            .and_then(|g| g.ephemeral_disk.get("SizeMB").cloned())
            .unwrap_or(json!(300));
        json!({
            "Shared": {"DiskMB": disk, "Networks": networks, "Ports": ports},
            "TaskLifecycles": lifecycles,
            "Tasks": tasks,
        })
    }

    fn metrics(&self, nodes_in_pool: usize, datacenter: &str) -> Value {
        json!({
            "AllocationTime": 52_345,
            "ClassExhausted": null,
            "ClassFiltered": null,
            "CoalescedFailures": 0,
            "ConstraintFiltered": null,
            "DimensionExhausted": null,
            "NodesAvailable": {datacenter: nodes_in_pool},
            "NodesEvaluated": nodes_in_pool,
            "NodesExhausted": 0,
            "NodesFiltered": 0,
            "NodesInPool": nodes_in_pool,
            "QuotaExhausted": null,
            "ResourcesExhausted": null,
            "ScoreMetaData": [{"NodeID": self.node_id, "NormScore": 0.5,
                               "Scores": {"binpack": 0.5, "job-anti-affinity": 0.0}}],
            "Scores": null,
        })
    }

    /// `GET /v1/allocation/:id`, node allocations: the full struct with empty fields omitted.
    pub fn to_full_json(&self, nodes_in_pool: usize, datacenter: &str) -> Value {
        let full = json!({
            "AllocModifyIndex": self.alloc_modify_index,
            "AllocStates": null,
            "AllocatedResources": self.allocated_resources(),
            "ClientDescription": self.client_description,
            "ClientStatus": self.client_status,
            "CreateIndex": self.create_index,
            "CreateTime": self.create_time,
            "DeploymentID": self.deployment_id,
            "DeploymentStatus": self.deployment_status_json(),
            "DesiredDescription": self.desired_description,
            "DesiredStatus": self.desired_status,
            "DesiredTransition": self.desired_transition(),
            "EvalID": self.eval_id,
            "FollowupEvalID": "",
            "ID": self.id,
            "Job": self.job.to_json(),
            "JobID": self.job_id,
            "Metrics": self.metrics(nodes_in_pool, datacenter),
            "ModifyIndex": self.modify_index,
            "ModifyTime": self.modify_time,
            "Name": self.name,
            "Namespace": self.namespace,
            "NetworkStatus": null,
            "NextAllocation": self.next_allocation,
            "NodeID": self.node_id,
            "NodeName": self.node_name,
            "PreemptedAllocations": null,
            "PreemptedByAllocation": "",
            "PreviousAllocation": self.previous_allocation,
            "RescheduleTracker": null,
            "SigningKeyID": self.signing_key_id,
            "TaskGroup": self.task_group,
            "TaskStates": self.task_states_json(),
        });
        Value::Object(encode::omit_empty(
            full.as_object().cloned().unwrap_or_default(),
        ))
    }

    /// `AllocListStub`, as `GET /v1/allocations` and `GET /v1/job/:id/allocations` list it.
    pub fn to_stub_json(&self) -> Value {
        json!({
            "ClientDescription": self.client_description,
            "ClientStatus": self.client_status,
            "CreateIndex": self.create_index,
            "CreateTime": self.create_time,
            "DeploymentStatus": self.deployment_status_json(),
            "DesiredDescription": self.desired_description,
            "DesiredStatus": self.desired_status,
            "DesiredTransition": self.desired_transition(),
            "EvalID": self.eval_id,
            "FollowupEvalID": "",
            "ID": self.id,
            "JobID": self.job_id,
            "JobType": self.job.job_type,
            "JobVersion": self.job.version,
            "ModifyIndex": self.modify_index,
            "ModifyTime": self.modify_time,
            "Name": self.name,
            "Namespace": self.namespace,
            "NextAllocation": self.next_allocation,
            "NodeID": self.node_id,
            "NodeName": self.node_name,
            "PreemptedAllocations": null,
            "PreemptedByAllocation": "",
            "RescheduleTracker": null,
            "TaskGroup": self.task_group,
            "TaskStates": self.task_states_json(),
        })
    }
}
