//! Per-task settings (README, "Opting a job in"): whether shepard manages the task, how it restarts it, and the
//! rollout knobs. Each knob comes from meta (task over group over job), then the group's
//! `update` block, then the agent's defaults. A value that cannot be used is reported as a
//! problem and the next source is tried; resolution never fails.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::action::{Problem, ProblemKind};
use crate::model::{ChangeMode, TaskId, TaskSpec, TemplateSpec};

/// Meta key: `"true"` opts a task in without a trigger template (restart via the Nomad API);
/// `"false"` opts out.
pub const META_ENABLED: &str = "shepard_enabled";
/// Meta key: restart slots.
pub const META_MAX_PARALLEL: &str = "shepard_max_parallel";
/// Meta key: how long a restarted task must stay healthy.
pub const META_MIN_HEALTHY_TIME: &str = "shepard_min_healthy_time";
/// Meta key: how long a restart may take to become healthy.
pub const META_HEALTHY_DEADLINE: &str = "shepard_healthy_deadline";
/// Meta key: `consul-key` or `nomad-api`.
pub const META_RESTART_METHOD: &str = "shepard_restart_method";
/// File name of the trigger template's destination.
pub const TRIGGER_FILE_NAME: &str = "shepard.tpl";

/// How shepard restarts a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMethod {
    /// Write a new token to the trigger key; the trigger template restarts the task.
    ConsulKey,
    /// Call Nomad's alloc restart API (needs the `alloc-lifecycle` capability).
    NomadApi,
}

/// The agent's defaults, the last source of every knob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentDefaults {
    /// Restart slots when neither meta nor `update` say.
    pub max_parallel: u32,
    /// Nomad's default `min_healthy_time`.
    #[serde(with = "humantime_serde")]
    pub min_healthy_time: Duration,
    /// Nomad's default `healthy_deadline`.
    #[serde(with = "humantime_serde")]
    pub healthy_deadline: Duration,
}

impl Default for AgentDefaults {
    fn default() -> Self {
        AgentDefaults {
            max_parallel: 1,
            min_healthy_time: Duration::from_secs(10),
            healthy_deadline: Duration::from_secs(300),
        }
    }
}

/// The resolved settings of one task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSettings {
    /// Whether shepard manages the task at all.
    pub managed: bool,
    /// How it restarts it.
    pub restart_method: RestartMethod,
    /// Restart slots.
    pub max_parallel: u32,
    /// Healthy time required after a restart.
    #[serde(with = "humantime_serde")]
    pub min_healthy_time: Duration,
    /// Deadline for a restart to become healthy.
    #[serde(with = "humantime_serde")]
    pub healthy_deadline: Duration,
    /// `DestPath` of the trigger template, if any.
    pub trigger_template: Option<String>,
    /// `DestPath`s of the watched (noop) templates.
    pub watched: Vec<String>,
}

/// Settings and the problems met while resolving them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The settings.
    pub settings: TaskSettings,
    /// Problems to report.
    pub problems: Vec<Problem>,
}

/// Resolves the settings of `task` from its spec and the agent defaults.
pub fn resolve(task: &TaskId, spec: &TaskSpec, defaults: &AgentDefaults) -> Resolved {
    let mut r = Resolver {
        task,
        spec,
        problems: Vec::new(),
    };
    let trigger = trigger_template(spec);
    let managed = r
        .meta(META_ENABLED, "\"true\" or \"false\"", |v| match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })
        .unwrap_or(trigger.is_some());
    let restart_method = r
        .meta(
            META_RESTART_METHOD,
            "\"consul-key\" (needs a shepard.tpl template) or \"nomad-api\"",
            |v| match v {
                "consul-key" if trigger.is_some() => Some(RestartMethod::ConsulKey),
                "nomad-api" => Some(RestartMethod::NomadApi),
                _ => None,
            },
        )
        .unwrap_or(if trigger.is_some() {
            RestartMethod::ConsulKey
        } else {
            RestartMethod::NomadApi
        });
    let update = spec.update.clone().unwrap_or_default();
    let max_parallel = r
        .meta(META_MAX_PARALLEL, "a whole number of at least 1", |v| {
            v.parse().ok().filter(|n| *n >= 1)
        })
        .or(update.max_parallel.filter(|n| *n >= 1))
        .unwrap_or(defaults.max_parallel.max(1));
    let min_healthy_time = r
        .meta(META_MIN_HEALTHY_TIME, "a duration such as \"10s\"", |v| {
            humantime::parse_duration(v).ok()
        })
        .or(update.min_healthy_time)
        .unwrap_or(defaults.min_healthy_time);
    let healthy_deadline = r
        .meta(
            META_HEALTHY_DEADLINE,
            "a positive duration such as \"5m\"",
            |v| humantime::parse_duration(v).ok().filter(|d| !d.is_zero()),
        )
        .or(update.healthy_deadline.filter(|d| !d.is_zero()))
        .unwrap_or(defaults.healthy_deadline);

    let mut watched = Vec::new();
    for template in &spec.templates {
        let is_trigger = trigger.is_some_and(|t| std::ptr::eq(t, template));
        match template.change_mode {
            ChangeMode::Restart if is_trigger => {}
            _ if is_trigger => r.problem(
                ProblemKind::TriggerNotRestart,
                format!("trigger template {} must have change_mode \"restart\"", template.dest_path),
                managed,
            ),
            ChangeMode::Noop => watched.push(template.dest_path.clone()),
            ChangeMode::Restart => r.problem(
                ProblemKind::TemplateRestarts,
                format!(
                    "template {} has change_mode \"restart\": Nomad restarts the task on its own; not watched",
                    template.dest_path
                ),
                managed,
            ),
            ChangeMode::Signal | ChangeMode::Script => {}
        }
    }
    let settings = TaskSettings {
        managed,
        restart_method,
        max_parallel,
        min_healthy_time,
        healthy_deadline,
        trigger_template: trigger.map(|t| t.dest_path.clone()),
        watched,
    };
    Resolved {
        settings,
        problems: r.problems,
    }
}

/// The task's trigger template: the first rendered to a file named [`TRIGGER_FILE_NAME`].
pub fn trigger_template(spec: &TaskSpec) -> Option<&TemplateSpec> {
    spec.templates
        .iter()
        .find(|t| is_trigger_dest(&t.dest_path))
}

/// Whether a template rendered to `dest_path` (its `DestPath`) is a trigger template.
pub fn is_trigger_dest(dest_path: &str) -> bool {
    dest_path.rsplit('/').next() == Some(TRIGGER_FILE_NAME)
}

struct Resolver<'a> {
    task: &'a TaskId,
    spec: &'a TaskSpec,
    problems: Vec<Problem>,
}

impl Resolver<'_> {
    /// The first usable value of meta `key`, task over group over job; unusable ones are
    /// reported.
    fn meta<T>(
        &mut self,
        key: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let levels = [
            ("task", &self.spec.task_meta),
            ("group", &self.spec.group_meta),
            ("job", &self.spec.job_meta),
        ];
        for (level, meta) in levels {
            let Some(value) = meta.get(key) else { continue };
            if let Some(parsed) = parse(value.trim()) {
                return Some(parsed);
            }
            self.problems.push(Problem {
                kind: ProblemKind::BadMeta,
                subject: self.task.to_string(),
                detail: format!(
                    "{level} meta {key} = {value:?} is not {expected}; using the next source"
                ),
            });
        }
        None
    }

    fn problem(&mut self, kind: ProblemKind, detail: String, managed: bool) {
        if managed {
            self.problems.push(Problem {
                kind,
                subject: self.task.to_string(),
                detail,
            });
        }
    }
}
