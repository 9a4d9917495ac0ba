//! What the agent observes in Nomad about one allocation and its task: the allocation's desired
//! and client status, and the task's current run (`TaskState`). Names and strings follow the
//! Nomad API (`refdata/nomad/FIELDS.md`).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// A status string Nomad sent that this model does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown Nomad status {0:?}")]
pub struct UnknownStatus(pub String);

/// `TaskState.State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Not started yet, or between a kill and the next start of a restart.
    Pending,
    /// Running.
    Running,
    /// Exited and not being restarted.
    Dead,
}

impl FromStr for TaskState {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(TaskState::Pending),
            "running" => Ok(TaskState::Running),
            "dead" => Ok(TaskState::Dead),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// One `TaskEvent`: its `Type` string and `Time` (Unix nanoseconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// `Type`, e.g. `Restart Signaled`, `Terminated`, `Started`.
    pub kind: String,
    /// `Time`.
    pub time: Timestamp,
}

impl TaskEvent {
    /// Event types that show a restart was requested or is under way.
    pub const RESTART_EVIDENCE: [&'static str; 5] = [
        "Restart Signaled",
        "Killing",
        "Terminated",
        "Restarting",
        "Started",
    ];

    /// Event types Nomad records before the process of a restarted run is spawned.
    pub const BEFORE_RESTARTED_RUN: [&'static str; 4] =
        ["Restart Signaled", "Killing", "Terminated", "Restarting"];
}

/// The task's current run, from `Allocation.TaskStates[task]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRun {
    /// `State`.
    pub state: TaskState,
    /// `Failed`.
    pub failed: bool,
    /// `StartedAt` of the current run (`null` before the first start). Nomad resets it on
    /// every (re)start, which is how a restart shows.
    pub started_at: Option<Timestamp>,
    /// `Restarts`.
    pub restarts: u64,
    /// `Events` (Nomad keeps the last 10).
    pub events: Vec<TaskEvent>,
}

/// `Allocation.DesiredStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredStatus {
    /// Should run.
    Run,
    /// Stopped by the scheduler or an operator (also: replaced by a newer allocation).
    Stop,
    /// Evicted (preempted).
    Evict,
}

impl FromStr for DesiredStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "run" => Ok(DesiredStatus::Run),
            "stop" => Ok(DesiredStatus::Stop),
            "evict" => Ok(DesiredStatus::Evict),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// `Allocation.ClientStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientStatus {
    /// Placed, tasks not all started.
    Pending,
    /// Running.
    Running,
    /// Finished successfully (terminal).
    Complete,
    /// Failed (terminal).
    Failed,
    /// The node was lost (terminal).
    Lost,
    /// The node is disconnected; the allocation may come back.
    Unknown,
}

impl FromStr for ClientStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(ClientStatus::Pending),
            "running" => Ok(ClientStatus::Running),
            "complete" => Ok(ClientStatus::Complete),
            "failed" => Ok(ClientStatus::Failed),
            "lost" => Ok(ClientStatus::Lost),
            "unknown" => Ok(ClientStatus::Unknown),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// The two status fields of an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocStatus {
    /// `DesiredStatus`.
    pub desired: DesiredStatus,
    /// `ClientStatus`.
    pub client: ClientStatus,
}

impl AllocStatus {
    /// Nomad is done with it: terminal on the client.
    pub fn is_terminal(self) -> bool {
        matches!(
            self.client,
            ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
        )
    }

    /// Still an allocation whose keys must be kept: not terminal on the client (even when the
    /// server already wants it stopped, it may still be running).
    pub fn is_live(self) -> bool {
        !self.is_terminal()
    }

    /// Meant to keep running: desired `run` and not terminal. Only such allocations are restarted.
    pub fn should_run(self) -> bool {
        self.desired == DesiredStatus::Run && self.is_live()
    }
}
