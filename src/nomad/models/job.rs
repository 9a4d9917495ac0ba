//! `Job` (`GET /v1/job/:id`, and embedded in a full `Allocation`) with its task groups and
//! tasks, reduced to what shepard reads: meta at the three levels, `Update`, `RestartPolicy`,
//! templates and services. Durations are integer nanoseconds on the wire.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::service::Service;
use super::string_enum::string_enum;
use super::template::Template;
use super::time::{UtcTime, unix_nanos};
use super::{duration, nullable};

/// `Job`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Job {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub region: String,
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    /// `service`, `batch`, `system`, `sysbatch`.
    #[serde(rename = "Type")]
    pub job_type: String,
    pub priority: i64,
    #[serde(deserialize_with = "nullable::default")]
    pub datacenters: Vec<String>,
    pub node_pool: String,
    #[serde(deserialize_with = "nullable::default")]
    pub task_groups: Vec<TaskGroup>,
    /// Job-level update block (only `Stagger`/`MaxParallel` matter at this level).
    pub update: Option<UpdateStrategy>,
    #[serde(deserialize_with = "nullable::default")]
    pub meta: BTreeMap<String, String>,
    pub stop: bool,
    pub status: String,
    pub status_description: String,
    pub stable: bool,
    pub version: u64,
    #[serde(with = "unix_nanos")]
    pub submit_time: UtcTime,
    pub create_index: u64,
    pub modify_index: u64,
    pub job_modify_index: u64,
}

/// `TaskGroup`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskGroup {
    pub name: String,
    pub count: u32,
    /// Absent for jobs without an update block (batch jobs).
    pub update: Option<UpdateStrategy>,
    pub restart_policy: Option<RestartPolicy>,
    #[serde(deserialize_with = "nullable::default")]
    pub tasks: Vec<Task>,
    #[serde(deserialize_with = "nullable::default")]
    pub services: Vec<Service>,
    #[serde(deserialize_with = "nullable::default")]
    pub meta: BTreeMap<String, String>,
    #[serde(with = "duration::nanos_or_null")]
    pub shutdown_delay: Option<Duration>,
}

/// `Task`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Task {
    pub name: String,
    pub driver: String,
    pub user: String,
    /// Driver configuration, free-form.
    #[serde(deserialize_with = "nullable::default")]
    pub config: BTreeMap<String, serde_json::Value>,
    #[serde(deserialize_with = "nullable::default")]
    pub env: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable::default")]
    pub services: Vec<Service>,
    #[serde(deserialize_with = "nullable::default")]
    pub templates: Vec<Template>,
    pub restart_policy: Option<RestartPolicy>,
    pub lifecycle: Option<Lifecycle>,
    #[serde(deserialize_with = "nullable::default")]
    pub meta: BTreeMap<String, String>,
    #[serde(with = "duration::nanos")]
    pub kill_timeout: Duration,
    pub kill_signal: String,
    pub leader: bool,
    #[serde(with = "duration::nanos")]
    pub shutdown_delay: Duration,
    pub log_config: Option<LogConfig>,
}

string_enum! {
    /// `UpdateStrategy.HealthCheck`: how an allocation is judged healthy.
    pub enum HealthCheckMode {
        Checks = "checks",
        TaskStates = "task_states",
        Manual = "manual",
    }
}

/// An unset health check is `""` on the server; Nomad then uses `checks`.
impl Default for HealthCheckMode {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

/// `UpdateStrategy`: the `update` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct UpdateStrategy {
    #[serde(with = "duration::nanos")]
    pub stagger: Duration,
    pub max_parallel: u32,
    pub health_check: HealthCheckMode,
    #[serde(with = "duration::nanos")]
    pub min_healthy_time: Duration,
    #[serde(with = "duration::nanos")]
    pub healthy_deadline: Duration,
    #[serde(with = "duration::nanos")]
    pub progress_deadline: Duration,
    pub auto_revert: bool,
    pub auto_promote: bool,
    pub canary: u32,
}

string_enum! {
    /// `RestartPolicy.Mode`: what happens after `Attempts` restarts within `Interval`.
    pub enum RestartMode {
        Delay = "delay",
        Fail = "fail",
    }
}

impl Default for RestartMode {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

/// `RestartPolicy`: how the client restarts a failed task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub attempts: u32,
    #[serde(with = "duration::nanos")]
    pub interval: Duration,
    #[serde(with = "duration::nanos")]
    pub delay: Duration,
    pub mode: RestartMode,
    /// Re-render templates when the task restarts (Nomad 1.8+).
    pub render_templates: bool,
}

/// `TaskLifecycleConfig`: prestart/poststart/poststop hooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Lifecycle {
    pub hook: String,
    pub sidecar: bool,
}

/// `LogConfig`: rotation of `alloc/logs/<task>.stdout.N`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    pub max_files: u32,
    #[serde(rename = "MaxFileSizeMB")]
    pub max_file_size_mb: u32,
    pub disabled: bool,
}

impl Job {
    pub fn task_group(&self, name: &str) -> Option<&TaskGroup> {
        self.task_groups.iter().find(|g| g.name == name)
    }
}

impl TaskGroup {
    pub fn task(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.name == name)
    }
}
