//! Translates what the watches saw (Nomad and Consul API types in the [`Store`]) into the
//! decision core's observations. Pure conversions plus reading rendered files from disk; no
//! decisions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use shepard_reconcilers::Timestamp;
use shepard_reconcilers::model::{
    AllocRef, AllocStatus, ChangeMode, CheckObservation, CheckStatus, KvEntry, KvView,
    RenderedFile, SessionId, TaskEvent, TaskId, TaskRun, TaskSpec, TaskState, TemplateSpec,
    UpdateBlock,
};
use shepard_reconcilers::rollout::Member;

use crate::consul::{self, KvPair};
use crate::nomad::models::task_state::TaskState as NomadTaskState;
use crate::nomad::models::template::ChangeMode as NomadChangeMode;
use crate::nomad::models::time::UtcTime;
use crate::nomad::models::{
    Allocation, AllocationListStub, ClientStatus, DesiredStatus, Job, Task, TaskGroup,
};
use crate::observe::rendered_file::{self, ContentClock};
use crate::observe::store::{Observed, Store, TrackedCheck};

/// The reconcile key of the task reconciler: one task of one allocation on this node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    pub alloc_id: String,
    pub task: String,
}

impl std::fmt::Display for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.alloc_id, self.task)
    }
}

pub fn timestamp(t: UtcTime) -> Timestamp {
    Timestamp::from_system_time(t.to_system_time())
}

/// The allocation's status in the decision core's terms; `None` for a status this version of
/// shepard does not know (the allocation is then left alone).
pub fn alloc_status(desired: &DesiredStatus, client: &ClientStatus) -> Option<AllocStatus> {
    Some(AllocStatus {
        desired: desired.as_str().parse().ok()?,
        client: client.as_str().parse().ok()?,
    })
}

pub fn task_run(state: &NomadTaskState) -> Option<TaskRun> {
    Some(TaskRun {
        state: state.state.as_str().parse::<TaskState>().ok()?,
        failed: state.failed,
        started_at: state.started_at.map(timestamp),
        restarts: state.restarts,
        events: state
            .events
            .iter()
            .map(|e| TaskEvent {
                kind: e.event_type.as_str().to_owned(),
                time: timestamp(e.time),
            })
            .collect(),
    })
}

/// The parts of the job spec the decisions read for `task` of `group`.
pub fn task_spec(job: &Job, group: &TaskGroup, task: &Task) -> TaskSpec {
    let update = group
        .update
        .as_ref()
        .or(job.update.as_ref())
        .map(|u| UpdateBlock {
            // 0 disables deployments in Nomad: "not set" for shepard.
            max_parallel: (u.max_parallel > 0).then_some(u.max_parallel),
            min_healthy_time: (!u.min_healthy_time.is_zero()).then_some(u.min_healthy_time),
            healthy_deadline: (!u.healthy_deadline.is_zero()).then_some(u.healthy_deadline),
        });
    let templates = task
        .templates
        .iter()
        .map(|t| TemplateSpec {
            dest_path: t.dest_path.clone(),
            change_mode: change_mode(&t.change_mode),
            embedded_tmpl: t.embedded_tmpl.clone(),
        })
        .collect();
    let has_checks = task.services.iter().any(|s| !s.checks.is_empty())
        || group
            .services
            .iter()
            .any(|s| !s.checks.is_empty() && (s.task_name.is_empty() || s.task_name == task.name));
    TaskSpec {
        job_meta: job.meta.clone(),
        group_meta: group.meta.clone(),
        task_meta: task.meta.clone(),
        update,
        templates,
        has_checks,
    }
}

fn change_mode(mode: &NomadChangeMode) -> ChangeMode {
    // Unknown modes count as `script`: neither noop (watched) nor restart (trigger).
    mode.as_str().parse().unwrap_or(ChangeMode::Script)
}

/// The KV listing in the decision core's terms. A value that is not UTF-8 cannot be a record
/// of shepard's: it is kept as `None` (a null value) and the reconcilers treat it as absent.
pub fn kv_view(kv: &BTreeMap<String, KvPair>) -> KvView {
    kv.iter()
        .map(|(key, pair)| {
            let entry = KvEntry {
                value: String::from_utf8(pair.value.clone()).ok(),
                modify_index: pair.modify_index,
                session: pair.session.clone().map(SessionId),
            };
            (key.clone(), entry)
        })
        .collect()
}

/// The checks of the allocation's services (Nomad registers them as
/// `_nomad-task-<alloc_id>-…`), each with its report time from the job spec of the allocation's
/// group (`group`).
pub fn alloc_checks<'a>(
    alloc_id: &str,
    group: &TaskGroup,
    checks: impl Iterator<Item = &'a TrackedCheck>,
) -> Vec<CheckObservation> {
    let prefix = format!("_nomad-task-{alloc_id}-");
    let report_times = ReportTimes::of(group);
    let mut observed: Vec<CheckObservation> = checks
        .filter(|c| c.check.service_id.starts_with(&prefix))
        .map(|c| CheckObservation {
            check_id: c.check.check_id.clone(),
            status: match c.check.status {
                consul::CheckStatus::Passing => CheckStatus::Passing,
                consul::CheckStatus::Warning => CheckStatus::Warning,
                consul::CheckStatus::Critical | consul::CheckStatus::Unknown => {
                    CheckStatus::Critical
                }
            },
            since: Timestamp::from_system_time(c.since),
            registered_at: Timestamp::from_system_time(c.registered_at),
            result_changed_at: c.result_changed_at.map(Timestamp::from_system_time),
            report_within: report_times.of_check(&c.check.service_name, &c.check.name),
        })
        .collect();
    observed.sort_by(|a, b| a.check_id.cmp(&b.check_id));
    observed
}

/// The report time of every check the group's services declare (group and task services),
/// by service and check name: how long after a start the check has surely run and reported a
/// failure.
struct ReportTimes {
    by_name: Vec<((String, String), Duration)>,
    longest: Option<Duration>,
}

impl ReportTimes {
    fn of(group: &TaskGroup) -> Self {
        let services = group
            .services
            .iter()
            .chain(group.tasks.iter().flat_map(|t| t.services.iter()));
        let by_name: Vec<_> = services
            .flat_map(|service| {
                service.checks.iter().map(|check| {
                    let runs = check.failures_before_critical.max(1);
                    let within = check.interval.saturating_mul(runs) + check.timeout;
                    ((service.name.clone(), check.name.clone()), within)
                })
            })
            .collect();
        let longest = by_name.iter().map(|(_, d)| *d).max();
        ReportTimes { by_name, longest }
    }

    /// The check's own report time when its names match the spec (names with interpolations
    /// do not), else the longest of the group: never shorter than the truth.
    fn of_check(&self, service: &str, check: &str) -> Option<Duration> {
        self.by_name
            .iter()
            .find(|((s, c), _)| s == service && c == check)
            .map(|(_, d)| *d)
            .or(self.longest)
    }
}

/// Where Nomad renders a template's `DestPath` for `task` of allocation `alloc_id`: relative
/// paths are inside the task directory; `${NOMAD_ALLOC_DIR}`, `${NOMAD_TASK_DIR}` and
/// `${NOMAD_SECRETS_DIR}` expand as in the task's environment.
pub fn rendered_path(alloc_dir: &Path, alloc_id: &str, task: &str, dest_path: &str) -> PathBuf {
    let alloc = alloc_dir.join(alloc_id);
    let task_dir = alloc.join(task);
    let expansions = [
        ("${NOMAD_ALLOC_DIR}", alloc.join("alloc")),
        ("${NOMAD_TASK_DIR}", task_dir.join("local")),
        ("${NOMAD_SECRETS_DIR}", task_dir.join("secrets")),
    ];
    for (variable, dir) in expansions {
        if let Some(rest) = dest_path.strip_prefix(variable) {
            return dir.join(rest.trim_start_matches('/'));
        }
    }
    task_dir.join(dest_path.trim_start_matches('/'))
}

/// The rendered files of `spec`'s templates that exist on disk. A file that cannot be read
/// (permissions) is logged and left out, as if not rendered yet.
pub fn rendered_files(
    alloc_dir: &Path,
    alloc_id: &str,
    task: &str,
    spec: &TaskSpec,
    clock: &ContentClock,
) -> Vec<RenderedFile> {
    spec.templates
        .iter()
        .filter_map(|t| {
            let path = rendered_path(alloc_dir, alloc_id, task, &t.dest_path);
            match rendered_file::read(&path) {
                Ok(Some(file)) => Some(RenderedFile {
                    dest_path: t.dest_path.clone(),
                    changed_at: Timestamp::from_system_time(clock.changed_at(&path, &file)),
                    fingerprint: shepard_reconcilers::model::Fingerprint(file.fingerprint),
                }),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot read rendered file");
                    None
                }
            }
        })
        .collect()
}

/// One allocation's task, with what it needs from the allocation's embedded job.
pub struct AllocTask<'a> {
    pub alloc: &'a Allocation,
    pub job: &'a Job,
    pub group: &'a TaskGroup,
    pub task: &'a Task,
}

impl AllocTask<'_> {
    pub fn id(&self) -> TaskId {
        TaskId::new(
            &self.alloc.namespace,
            &self.alloc.job_id,
            &self.alloc.task_group,
            &self.task.name,
        )
    }

    pub fn alloc_ref(&self) -> Option<AllocRef> {
        Some(AllocRef {
            id: self.alloc.id.clone(),
            index: self.alloc.alloc_index()?,
            node: self.alloc.node_name.clone(),
        })
    }
}

/// Every task of every allocation on this node (allocations without their job are skipped).
pub fn alloc_tasks(observed: &Observed) -> Vec<AllocTask<'_>> {
    let Some(allocs) = observed.node_allocs.as_ref() else {
        return Vec::new();
    };
    allocs
        .iter()
        .filter_map(|alloc| {
            let job = alloc.job.as_deref()?;
            let group = job.task_group(&alloc.task_group)?;
            Some((alloc, job, group))
        })
        .flat_map(|(alloc, job, group)| {
            group.tasks.iter().map(move |task| AllocTask {
                alloc,
                job,
                group,
                task,
            })
        })
        .collect()
}

/// The allocation of `key`, if this node still lists it.
pub fn find_alloc_task<'a>(observed: &'a Observed, key: &TaskKey) -> Option<AllocTask<'a>> {
    alloc_tasks(observed)
        .into_iter()
        .find(|t| t.alloc.id == key.alloc_id && t.task.name == key.task)
}

/// The members of a task's rollout: the group's allocations on every node.
pub fn members(stubs: &[AllocationListStub], group: &str) -> Vec<Member> {
    stubs
        .iter()
        .filter(|s| s.task_group == group)
        .filter_map(|s| {
            Some(Member {
                alloc: AllocRef {
                    id: s.id.clone(),
                    index: s.alloc_index()?,
                    node: s.node_name.clone(),
                },
                status: alloc_status(&s.desired_status, &s.client_status)?,
            })
        })
        .collect()
}

/// `now` for the decision core.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// `now` and the time of the host's last wall-clock step, for the decision core, from the
/// store's clock (which drops check histories from before a step: read it before gathering).
pub fn clock(store: &Store) -> (Timestamp, Option<Timestamp>) {
    let reading = store.now();
    (
        Timestamp::from_system_time(reading.now),
        reading
            .last_step
            .map(|step| Timestamp::from_system_time(step.seen_at)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dest_paths_resolve_like_nomad_does() {
        let dir = Path::new("/var/lib/nomad/alloc");
        let id = "5f1c";
        assert_eq!(
            rendered_path(dir, id, "web", "local/config.yml"),
            Path::new("/var/lib/nomad/alloc/5f1c/web/local/config.yml")
        );
        assert_eq!(
            rendered_path(dir, id, "web", "${NOMAD_ALLOC_DIR}/config.yml"),
            Path::new("/var/lib/nomad/alloc/5f1c/alloc/config.yml")
        );
        assert_eq!(
            rendered_path(dir, id, "web", "${NOMAD_TASK_DIR}/app.conf"),
            Path::new("/var/lib/nomad/alloc/5f1c/web/local/app.conf")
        );
        assert_eq!(
            rendered_path(dir, id, "web", "${NOMAD_SECRETS_DIR}/token"),
            Path::new("/var/lib/nomad/alloc/5f1c/web/secrets/token")
        );
    }
}
