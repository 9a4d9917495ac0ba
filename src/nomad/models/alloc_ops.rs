//! Bodies of the calls shepard makes on one allocation: restart a task, stop the allocation,
//! stat a file in its directory.

use serde::{Deserialize, Serialize};

use super::time::{UtcTime, rfc3339_or_null};

/// Body of `POST /v1/client/allocation/:id/restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocRestartRequest {
    /// The task to restart; empty restarts every running task.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub task_name: String,
    /// Restart all tasks, including ones that have finished (lifecycle hooks).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub all_tasks: bool,
}

/// Response of `POST /v1/allocation/:id/stop`: the evaluation that replaces the allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocStopResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub index: u64,
}

/// `AllocFileInfo`, from `GET /v1/client/fs/stat/:alloc_id?path=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AllocFileInfo {
    pub name: String,
    pub is_dir: bool,
    pub size: i64,
    /// Go's `FileMode.String()`, e.g. `-rw-r--r--`.
    pub file_mode: String,
    #[serde(with = "rfc3339_or_null")]
    pub mod_time: Option<UtcTime>,
    pub content_type: String,
}
