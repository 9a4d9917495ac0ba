//! Which trigger key an allocation's task is restarted through, or why shepard writes none.
//! A trigger template renders its key from raw Nomad names (see [`crate::keys::TriggerKey`]),
//! so shepard writes the key only when
//!
//! - every name in it is usable raw: one segment each (the job name may span several), none
//!   empty, `.` or `..`, no control character; and
//! - no other allocation of the node that Nomad has not finished with renders the same key. In
//!   the legacy layout the same job name in two namespaces, or a canary or replacement reusing
//!   a live allocation's index, would be restarted by the one write: the key is written for
//!   neither. Once one of them is gone, the other's key names it alone again.
//!
//! Otherwise the decision is a [`Problem`] (`unsafe_name` or `shared_trigger_key`), which the
//! task reconciler reports and records on the allocation's record.

use serde::{Deserialize, Serialize};

use crate::action::{Problem, ProblemKind};
use crate::keys::{Prefix, TriggerKey, TriggerLayout};
use crate::model::{AllocRef, AllocStatus, TaskId, TaskSpec};
use crate::settings;

/// An allocation's task with a trigger template, on the node of the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerSite {
    /// The allocation (its node, index and ID go into the key).
    pub alloc: AllocRef,
    /// The task (namespace, group and task name go into the key).
    pub task: TaskId,
    /// `Job.Name` (`NOMAD_JOB_NAME`).
    pub job_name: String,
    /// The layout its trigger template renders.
    pub layout: TriggerLayout,
}

impl TriggerSite {
    /// The key the site's trigger template renders.
    pub fn key(&self) -> TriggerKey {
        TriggerKey::new(
            self.layout,
            &self.alloc.node,
            &self.task.namespace,
            &self.job_name,
            &self.task.group,
            &self.task.task,
            (&self.alloc.id, self.alloc.index),
        )
    }

    fn is(&self, other: &TriggerSite) -> bool {
        self.alloc.id == other.alloc.id && self.task.task == other.task.task
    }
}

/// The layout of the task's trigger template, if it has one.
pub fn layout(spec: &TaskSpec) -> Option<TriggerLayout> {
    layout_of(
        spec.templates
            .iter()
            .map(|t| (t.dest_path.as_str(), t.embedded_tmpl.as_str())),
    )
}

/// The layout of the trigger template among a task's templates, given as (`DestPath`,
/// `EmbeddedTmpl`) pairs, if there is one.
pub fn layout_of<'t>(
    templates: impl IntoIterator<Item = (&'t str, &'t str)>,
) -> Option<TriggerLayout> {
    templates
        .into_iter()
        .find(|(dest_path, _)| settings::is_trigger_dest(dest_path))
        .map(|(_, text)| TriggerLayout::of_template(text))
}

/// The trigger site of an allocation's task whose trigger template renders `layout`: `None`
/// without a trigger template, or when Nomad is done with the allocation (a terminal
/// allocation renders no template any more).
pub fn site(
    alloc: &AllocRef,
    status: Option<AllocStatus>,
    task: &TaskId,
    job_name: &str,
    layout: Option<TriggerLayout>,
) -> Option<TriggerSite> {
    if !status.is_some_and(AllocStatus::is_live) {
        return None;
    }
    Some(TriggerSite {
        alloc: alloc.clone(),
        task: task.clone(),
        job_name: job_name.to_owned(),
        layout: layout?,
    })
}

/// The key `own` may be restarted through, given the trigger sites of its node (`own` among
/// them or not); the problem that forbids it otherwise.
pub fn resolve(
    own: &TriggerSite,
    sites: &[TriggerSite],
    prefix: &Prefix,
) -> Result<TriggerKey, Problem> {
    let key = own.key();
    if let Err(e) = key.check() {
        return Err(Problem {
            kind: ProblemKind::UnsafeName,
            subject: own.task.to_string(),
            detail: format!(
                "{e}; shepard writes no trigger key for allocation {} and does not restart it",
                own.alloc.id
            ),
        });
    }
    let text = key.to_string();
    let sharers: Vec<String> = sites
        .iter()
        .filter(|s| !s.is(own) && s.key().to_string() == text)
        .map(|s| format!("{} ({})", s.alloc.id, s.task))
        .collect();
    if sharers.is_empty() {
        return Ok(key);
    }
    Err(Problem {
        kind: ProblemKind::SharedTriggerKey,
        subject: format!("{}{text}", prefix.as_str()),
        detail: format!(
            "allocation {} ({}) and allocation {} on node {} render the same trigger key, so \
             one write would restart both; shepard writes it for neither and does not restart \
             them. Render keys/<node>/<namespace>/<job name>/<group>/<task>/<alloc_id> in \
             shepard.tpl (env \"NOMAD_NAMESPACE\" and env \"NOMAD_ALLOC_ID\")",
            own.alloc.id,
            own.task,
            sharers.join(", allocation "),
            own.alloc.node,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientStatus, DesiredStatus};

    const BY_ID: &str = r#"{{ keyOrDefault (printf "shepard/keys/%s/%s/%s/%s/%s/%s" (env "node.unique.name") (env "NOMAD_NAMESPACE") (env "NOMAD_JOB_NAME") (env "NOMAD_GROUP_NAME") (env "NOMAD_TASK_NAME") (env "NOMAD_ALLOC_ID")) "" }}"#;

    #[test]
    fn the_layout_is_the_trigger_templates() {
        let config = ("local/config.yml", "{{ env \"NOMAD_ALLOC_ID\" }}");
        assert_eq!(layout_of([config]), None);
        assert_eq!(
            layout_of([config, ("local/shepard.tpl", "{{ key \"k\" }}")]),
            Some(TriggerLayout::Legacy)
        );
        assert_eq!(
            layout_of([config, ("${NOMAD_TASK_DIR}/shepard.tpl", BY_ID)]),
            Some(TriggerLayout::AllocId)
        );
    }

    #[test]
    fn terminal_allocations_and_tasks_without_a_trigger_are_no_sites() {
        let alloc = AllocRef {
            id: "a1".into(),
            index: 0,
            node: "n1".into(),
        };
        let task = TaskId::new("default", "web", "web", "app");
        let status = |desired, client| Some(AllocStatus { desired, client });
        let stopping = status(DesiredStatus::Stop, ClientStatus::Running);
        let done = status(DesiredStatus::Stop, ClientStatus::Complete);
        let legacy = Some(TriggerLayout::Legacy);
        assert!(site(&alloc, stopping, &task, "web", legacy).is_some());
        assert!(site(&alloc, done, &task, "web", legacy).is_none());
        assert!(site(&alloc, None, &task, "web", legacy).is_none());
        assert!(site(&alloc, stopping, &task, "web", None).is_none());
    }
}
