//! A deployment as the servers store it (`structs.Deployment` with one `DeploymentState` per
//! task group, nomad/structs/deployment.go) and an allocation's part in it
//! (`AllocDeploymentStatus`, nomad/structs/alloc.go), with their JSON forms: every field
//! present (neither struct has struct-level omitempty), zero times `null`, durations in
//! nanoseconds, `CreateTime`/`ModifyTime` in Unix nanoseconds.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::job::Job;
use crate::clock::rfc3339_nano;
use crate::ids::uuid;

pub const RUNNING: &str = "running";
pub const SUCCESSFUL: &str = "successful";
pub const FAILED: &str = "failed";
pub const CANCELLED: &str = "cancelled";

pub const DESC_RUNNING: &str = "Deployment is running";
pub const DESC_NEEDS_PROMOTION: &str = "Deployment is running but requires manual promotion";
pub const DESC_AUTO_PROMOTION: &str = "Deployment is running pending automatic promotion";
pub const DESC_SUCCESSFUL: &str = "Deployment completed successfully";
pub const DESC_STOPPED_JOB: &str = "Cancelled because job is stopped";
pub const DESC_NEWER_JOB: &str = "Cancelled due to newer version of job";
pub const DESC_FAILED_ALLOCS: &str = "Failed due to unhealthy allocations";

/// One task group's progress in a deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentState {
    pub auto_revert: bool,
    pub auto_promote: bool,
    /// Nanoseconds.
    pub progress_deadline: i64,
    /// Unix nanoseconds; 0 is Go's zero time.
    pub require_progress_by: i64,
    pub promoted: bool,
    pub placed_canaries: Vec<String>,
    pub desired_canaries: u32,
    pub desired_total: u32,
    pub placed_allocs: u32,
    pub healthy_allocs: u32,
    pub unhealthy_allocs: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub namespace: String,
    pub job_id: String,
    pub job_version: u64,
    pub job_modify_index: u64,
    pub job_spec_modify_index: u64,
    pub job_create_index: u64,
    pub task_groups: BTreeMap<String, DeploymentState>,
    pub status: String,
    pub status_description: String,
    pub eval_priority: i64,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

/// An allocation's `DeploymentStatus`: set with `Canary` when a canary is placed, and by the
/// client's health verdict (`Healthy`, `Timestamp`) otherwise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllocDeploymentStatus {
    pub healthy: Option<bool>,
    /// Unix nanoseconds; 0 is Go's zero time.
    pub timestamp: i64,
    pub canary: bool,
    pub modify_index: u64,
}

fn time_or_null(nanos: i64) -> Value {
    if nanos == 0 {
        Value::Null
    } else {
        Value::String(rfc3339_nano(nanos))
    }
}

impl Deployment {
    /// `NewDeployment`: running, for the job version just registered, no groups yet.
    pub fn new(job: &Job, index: u64, now: i64) -> Self {
        Self {
            id: uuid(),
            namespace: job.namespace.clone(),
            job_id: job.id.clone(),
            job_version: job.version,
            job_modify_index: job.modify_index,
            job_spec_modify_index: job.job_modify_index,
            job_create_index: job.create_index,
            task_groups: BTreeMap::new(),
            status: RUNNING.into(),
            status_description: DESC_RUNNING.into(),
            eval_priority: job.priority,
            create_index: index,
            modify_index: index,
            create_time: now,
            modify_time: now,
        }
    }

    /// `Active`: not terminal (the simulator only uses running and the terminal statuses).
    pub fn active(&self) -> bool {
        matches!(
            self.status.as_str(),
            "running" | "paused" | "blocked" | "unblocking" | "initializing" | "pending"
        )
    }

    /// `RequiresPromotion`: running with a group whose canaries are not promoted.
    pub fn requires_promotion(&self) -> bool {
        self.status == RUNNING
            && self
                .task_groups
                .values()
                .any(|g| g.desired_canaries > 0 && !g.promoted)
    }

    /// `HasAutoPromote`: every group with canaries has `auto_promote`.
    pub fn has_auto_promote(&self) -> bool {
        self.status == RUNNING
            && !self.task_groups.is_empty()
            && self
                .task_groups
                .values()
                .all(|g| g.desired_canaries == 0 || g.auto_promote)
    }

    /// The description of a running deployment given its promotion state
    /// (`setDeploymentStatusAndUpdates`, `UpdateDeploymentPromotion`).
    pub fn running_description(&self) -> &'static str {
        if !self.requires_promotion() {
            DESC_RUNNING
        } else if self.has_auto_promote() {
            DESC_AUTO_PROMOTION
        } else {
            DESC_NEEDS_PROMOTION
        }
    }

    pub fn to_json(&self) -> Value {
        let groups: serde_json::Map<String, Value> = self
            .task_groups
            .iter()
            .map(|(name, state)| (name.clone(), state.to_json()))
            .collect();
        json!({
            "CreateIndex": self.create_index,
            "CreateTime": self.create_time,
            "EvalPriority": self.eval_priority,
            "ID": self.id,
            "IsMultiregion": false,
            "JobCreateIndex": self.job_create_index,
            "JobID": self.job_id,
            "JobModifyIndex": self.job_modify_index,
            "JobSpecModifyIndex": self.job_spec_modify_index,
            "JobVersion": self.job_version,
            "ModifyIndex": self.modify_index,
            "ModifyTime": self.modify_time,
            "Namespace": self.namespace,
            "Status": self.status,
            "StatusDescription": self.status_description,
            "TaskGroups": groups,
        })
    }
}

impl DeploymentState {
    pub fn to_json(&self) -> Value {
        // A group that never placed a canary keeps Go's nil slice.
        let canaries = if self.placed_canaries.is_empty() {
            Value::Null
        } else {
            json!(self.placed_canaries)
        };
        json!({
            "AutoPromote": self.auto_promote,
            "AutoRevert": self.auto_revert,
            "DesiredCanaries": self.desired_canaries,
            "DesiredTotal": self.desired_total,
            "HealthyAllocs": self.healthy_allocs,
            "PlacedAllocs": self.placed_allocs,
            "PlacedCanaries": canaries,
            "ProgressDeadline": self.progress_deadline,
            "Promoted": self.promoted,
            "RequireProgressBy": time_or_null(self.require_progress_by),
            "UnhealthyAllocs": self.unhealthy_allocs,
        })
    }
}

impl AllocDeploymentStatus {
    /// A canary as the scheduler places it: no health yet, index set once health is.
    pub fn canary() -> Self {
        Self {
            canary: true,
            ..Self::default()
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "Canary": self.canary,
            "Healthy": self.healthy,
            "ModifyIndex": self.modify_index,
            "Timestamp": time_or_null(self.timestamp),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_canary_has_null_health_and_time() {
        assert_eq!(
            AllocDeploymentStatus::canary().to_json(),
            json!({"Canary": true, "Healthy": null, "ModifyIndex": 0, "Timestamp": null})
        );
    }

    #[test]
    fn promotion_state_decides_the_description() {
        let job = Job::default();
        let mut d = Deployment::new(&job, 7, 1);
        let group = DeploymentState {
            desired_canaries: 1,
            ..DeploymentState::default()
        };
        d.task_groups.insert("web".into(), group);
        assert_eq!(d.running_description(), DESC_NEEDS_PROMOTION);
        d.task_groups
            .values_mut()
            .for_each(|g| g.auto_promote = true);
        assert_eq!(d.running_description(), DESC_AUTO_PROMOTION);
        d.task_groups.values_mut().for_each(|g| g.promoted = true);
        assert_eq!(d.running_description(), DESC_RUNNING);
        assert_eq!(
            d.to_json()["TaskGroups"]["web"]["PlacedCanaries"],
            Value::Null
        );
    }
}
