//! Every Consul key of shepard's layout: building them from identities and parsing them back.
//! Nomad names are percent-escaped (see `escape`), except under `keys/`, whose layout must be
//! exactly what the opt-in template computes from the raw names (see `trigger`):
//! `keys/<node>/<namespace>/<job name>/<group>/<task>/<alloc_id>`, or the legacy
//! `keys/<node>/<job name>/<group>/<task>/<alloc index>`.

mod escape;
mod parse;
mod trigger;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use escape::{escape, unescape};
pub use parse::{KeyError, parse};
pub use trigger::{NameRole, TriggerKey, TriggerLayout, UnsafeName};

use crate::model::TaskId;

/// The KV prefix every key lives under (config `consul.prefix`), always ending in `/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prefix(String);

impl Prefix {
    /// A prefix; a missing trailing `/` is added.
    pub fn new(prefix: &str) -> Self {
        if prefix.ends_with('/') {
            Prefix(prefix.to_owned())
        } else {
            Prefix(format!("{prefix}/"))
        }
    }

    /// The prefix text, with its trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Prefix {
    fn default() -> Self {
        Prefix::new("shepard/")
    }
}

/// The kinds of keys, e.g. for the `kind` label of GC metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// `keys/…`: a restart trigger.
    Trigger,
    /// `rollouts/…`: a rollout record.
    Rollout,
    /// `locks/…/task_lock`: the rollout leader lock.
    TaskLock,
    /// `locks/…/restart_lock/<n>`: a restart slot.
    Slot,
    /// `state/…`: an allocation record.
    State,
    /// `agents/<node>`: an agent registration.
    Agent,
}

impl KeyKind {
    /// The label text.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Trigger => "trigger",
            KeyKind::Rollout => "rollout",
            KeyKind::TaskLock => "task_lock",
            KeyKind::Slot => "slot",
            KeyKind::State => "state",
            KeyKind::Agent => "agent",
        }
    }
}

/// One key of the layout, by what it names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// `keys/…` (raw names, either layout).
    Trigger(TriggerKey),
    /// `rollouts/<ns>/<job>/<group>/<task>`.
    Rollout(TaskId),
    /// `locks/<ns>/<job>/<group>/<task>/task_lock`.
    TaskLock(TaskId),
    /// `locks/<ns>/<job>/<group>/<task>/restart_lock/<n>`.
    Slot(TaskId, u32),
    /// `state/<node>/<alloc_id>/<task>`.
    State {
        /// Node name.
        node: String,
        /// Allocation ID.
        alloc_id: String,
        /// Task name.
        task: String,
    },
    /// `agents/<node>`.
    Agent {
        /// Node name.
        node: String,
    },
}

impl Key {
    /// The legacy-layout trigger key of an allocation's task.
    pub fn trigger(node: &str, job_name: &str, group: &str, task: &str, alloc_index: u32) -> Self {
        Key::Trigger(TriggerKey::Legacy {
            node: node.to_owned(),
            job_name: job_name.to_owned(),
            group: group.to_owned(),
            task: task.to_owned(),
            alloc_index,
        })
    }

    /// The alloc-ID-layout trigger key of an allocation's task.
    pub fn alloc_trigger(
        node: &str,
        namespace: &str,
        job_name: &str,
        group: &str,
        task: &str,
        alloc_id: &str,
    ) -> Self {
        Key::Trigger(TriggerKey::AllocId {
            node: node.to_owned(),
            namespace: namespace.to_owned(),
            job_name: job_name.to_owned(),
            group: group.to_owned(),
            task: task.to_owned(),
            alloc_id: alloc_id.to_owned(),
        })
    }

    /// The record key of an allocation's task.
    pub fn state(node: &str, alloc_id: &str, task: &str) -> Self {
        Key::State {
            node: node.to_owned(),
            alloc_id: alloc_id.to_owned(),
            task: task.to_owned(),
        }
    }

    /// Which kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self {
            Key::Trigger(_) => KeyKind::Trigger,
            Key::Rollout(_) => KeyKind::Rollout,
            Key::TaskLock(_) => KeyKind::TaskLock,
            Key::Slot(..) => KeyKind::Slot,
            Key::State { .. } => KeyKind::State,
            Key::Agent { .. } => KeyKind::Agent,
        }
    }

    /// The full key under `prefix`.
    pub fn render(&self, prefix: &Prefix) -> String {
        format!("{}{}", prefix.as_str(), self)
    }
}

/// The path of a task's slot keys up to and including `restart_lock/`.
pub fn slot_dir(prefix: &Prefix, task: &TaskId) -> String {
    format!("{}locks/{}/restart_lock/", prefix.as_str(), task_path(task))
}

fn task_path(task: &TaskId) -> String {
    format!(
        "{}/{}/{}/{}",
        escape(&task.namespace),
        escape(&task.job),
        escape(&task.group),
        escape(&task.task)
    )
}

/// The key relative to the prefix.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Trigger(key) => key.fmt(f),
            Key::Rollout(task) => write!(f, "rollouts/{}", task_path(task)),
            Key::TaskLock(task) => write!(f, "locks/{}/task_lock", task_path(task)),
            Key::Slot(task, n) => write!(f, "locks/{}/restart_lock/{n}", task_path(task)),
            Key::State {
                node,
                alloc_id,
                task,
            } => {
                write!(
                    f,
                    "state/{}/{}/{}",
                    escape(node),
                    escape(alloc_id),
                    escape(task)
                )
            }
            Key::Agent { node } => write!(f, "agents/{}", escape(node)),
        }
    }
}
