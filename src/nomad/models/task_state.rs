//! A task's state inside an allocation (`Allocation.TaskStates[<task>]`) and its events: what
//! shepard reads to see that a restart happened (`Restarts`, `LastRestart`, `StartedAt`) and
//! whether the task runs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::string_enum::string_enum;
use super::time::{UtcTime, rfc3339_or_null, unix_nanos};
use super::{duration, nullable};

string_enum! {
    /// `TaskState.State`.
    #[derive(Default)]
    pub enum TaskStatus {
        #[default]
        Pending = "pending",
        Running = "running",
        Dead = "dead",
    }
}

string_enum! {
    /// `TaskEvent.Type`: the task runner's event kinds (nomad/structs `TaskEvent*` constants)
    /// and the template manager's `Template`.
    pub enum TaskEventType {
        Received = "Received",
        TaskSetup = "Task Setup",
        Started = "Started",
        Terminated = "Terminated",
        Killing = "Killing",
        Killed = "Killed",
        Restarting = "Restarting",
        NotRestarting = "Not Restarting",
        RestartSignaled = "Restart Signaled",
        Signaling = "Signaling",
        Driver = "Driver",
        DownloadingArtifacts = "Downloading Artifacts",
        ArtifactDownloadFailed = "Failed Artifact Download",
        BuildingTaskDir = "Building Task Directory",
        SiblingFailed = "Sibling Task Failed",
        LeaderDead = "Leader Task Dead",
        MainDead = "Main Tasks Dead",
        HookFailed = "Task hook failed",
        HookMessage = "Task hook message",
        FailedRestoringTask = "Failed Restoring Task",
        FailedValidation = "Failed Validation",
        SetupFailure = "Setup Failure",
        DriverFailure = "Driver Failure",
        DiskExceeded = "Disk Resources Exceeded",
        PluginUnhealthy = "Plugin became unhealthy",
        PluginHealthy = "Plugin became healthy",
        Reconnected = "Reconnected",
        WaitingShutdownDelay = "Waiting for shutdown delay",
        SkippingShutdownDelay = "Skipping shutdown delay",
        Pausing = "Pausing",
        Running = "Running",
        /// consul-template inside the client: `Missing: …` while keys are absent.
        Template = "Template",
    }
}

impl Default for TaskEventType {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

/// `TaskState`: one task of an allocation. Nested in `Allocation`, but not subject to its
/// omit-empty rule: every field is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskState {
    pub state: TaskStatus,
    pub failed: bool,
    /// In-place restarts of this task so far.
    pub restarts: u64,
    /// When the last restart began (the `Restarting` event); `None` if never restarted.
    #[serde(with = "rfc3339_or_null")]
    pub last_restart: Option<UtcTime>,
    /// Start of the current run: reset on every `Started`. `None` before the first start.
    #[serde(with = "rfc3339_or_null")]
    pub started_at: Option<UtcTime>,
    #[serde(with = "rfc3339_or_null")]
    pub finished_at: Option<UtcTime>,
    /// Oldest first; the client keeps only the last 10.
    #[serde(deserialize_with = "nullable::default")]
    pub events: Vec<TaskEvent>,
    /// Enterprise task schedules; `""` otherwise.
    pub paused: String,
}

impl TaskState {
    /// The newest event of `kind`, if the client still keeps one.
    pub fn last_event(&self, kind: &TaskEventType) -> Option<&TaskEvent> {
        self.events.iter().rev().find(|e| &e.event_type == kind)
    }
}

/// `TaskEvent`: one entry of a task's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskEvent {
    #[serde(rename = "Type")]
    pub event_type: TaskEventType,
    /// Unix nanoseconds on the wire.
    #[serde(with = "unix_nanos")]
    pub time: UtcTime,
    pub message: String,
    /// The human text the CLI shows, e.g. "Template with change_mode restart re-rendered".
    pub display_message: String,
    #[serde(deserialize_with = "nullable::default")]
    pub details: BTreeMap<String, String>,
    pub fails_task: bool,
    pub restart_reason: String,
    pub setup_error: String,
    pub driver_error: String,
    pub exit_code: i64,
    pub signal: i64,
    #[serde(with = "duration::nanos")]
    pub kill_timeout: Duration,
    pub kill_error: String,
    pub kill_reason: String,
    /// How long the restart tracker waits before `Started` (`Restarting` events).
    #[serde(with = "duration::nanos")]
    pub start_delay: Duration,
    pub download_error: String,
    pub validation_error: String,
    pub disk_limit: i64,
    pub failed_sibling: String,
    pub vault_error: String,
    pub task_signal_reason: String,
    pub task_signal: String,
    pub driver_message: String,
    pub generic_source: String,
}
