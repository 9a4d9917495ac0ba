//! The parts of a Nomad job spec that decide whether and how shepard manages a task: meta at
//! the three levels, the group's `update` block, the task's templates, and whether its services
//! declare checks.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::nomad::UnknownStatus;

/// `Template.ChangeMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeMode {
    /// Re-render only; the task is not told (what a watched template must use).
    Noop,
    /// Restart the task on change (what the trigger template uses).
    Restart,
    /// Send a signal.
    Signal,
    /// Run a script.
    Script,
}

impl FromStr for ChangeMode {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "noop" => Ok(ChangeMode::Noop),
            "restart" => Ok(ChangeMode::Restart),
            "signal" => Ok(ChangeMode::Signal),
            "script" => Ok(ChangeMode::Script),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// One `template` block of the task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSpec {
    /// `DestPath`, as written in the job (e.g. `local/config.yml`); also the name under which
    /// the agent reports the rendered file.
    pub dest_path: String,
    /// `ChangeMode`.
    pub change_mode: ChangeMode,
    /// `EmbeddedTmpl`: the template's text (empty for one read from `SourcePath`). The trigger
    /// template's text tells which key layout it renders.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub embedded_tmpl: String,
}

/// The group's effective `update` block (Nomad merges the job-level one into each group).
/// `MaxParallel = 0` means "not set" here, as it disables deployments in Nomad.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateBlock {
    /// `MaxParallel`.
    pub max_parallel: Option<u32>,
    /// `MinHealthyTime`.
    #[serde(with = "humantime_serde")]
    pub min_healthy_time: Option<Duration>,
    /// `HealthyDeadline`.
    #[serde(with = "humantime_serde")]
    pub healthy_deadline: Option<Duration>,
}

/// Everything of the job spec the decisions read for one task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// `Job.Meta`.
    pub job_meta: BTreeMap<String, String>,
    /// `TaskGroup.Meta`.
    pub group_meta: BTreeMap<String, String>,
    /// `Task.Meta`.
    pub task_meta: BTreeMap<String, String>,
    /// `TaskGroup.Update`.
    pub update: Option<UpdateBlock>,
    /// `Task.Templates`.
    pub templates: Vec<TemplateSpec>,
    /// Whether any service of the task (or a group service for it) declares a check. Without
    /// checks health is judged by task state alone (Nomad's `health_check = "task_states"`).
    pub has_checks: bool,
}
