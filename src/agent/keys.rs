//! Which reconcile keys the observed state implies: every task of every allocation on this
//! node (plus allocations that are gone but still have a record), every task whose rollout
//! this agent takes part in or leads, the jobs whose cluster-wide allocations it must watch,
//! and the rendered files to watch on disk.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use shepard_reconcilers::keys::{Key, parse};
use shepard_reconcilers::model::{SessionId, TaskId};
use shepard_reconcilers::{Context, settings};

use super::snapshot::{self, TaskKey};
use crate::observe::store::{JobRef, Observed};

/// Everything the runtime derives from one observed state.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    pub tasks: BTreeSet<TaskKey>,
    pub rollouts: BTreeSet<TaskId>,
    pub jobs: HashSet<JobRef>,
    /// Rendered files of managed tasks, and the task each belongs to.
    pub files: HashMap<PathBuf, TaskKey>,
}

pub fn wanted(
    observed: &Observed,
    ctx: &Context,
    alloc_dir: &std::path::Path,
    session: Option<&SessionId>,
) -> Wanted {
    let mut wanted = Wanted::default();
    for t in snapshot::alloc_tasks(observed) {
        let key = TaskKey {
            alloc_id: t.alloc.id.clone(),
            task: t.task.name.clone(),
        };
        let id = t.id();
        let spec = snapshot::task_spec(t.job, t.group, t.task);
        let managed = settings::resolve(&id, &spec, &ctx.defaults)
            .settings
            .managed;
        if managed {
            let live = snapshot::alloc_status(&t.alloc.desired_status, &t.alloc.client_status)
                .is_some_and(|s| s.is_live());
            if live {
                for template in &spec.templates {
                    let path = snapshot::rendered_path(
                        alloc_dir,
                        &key.alloc_id,
                        &key.task,
                        &template.dest_path,
                    );
                    wanted.files.insert(path, key.clone());
                }
            }
            wanted.jobs.insert(JobRef {
                namespace: id.namespace.clone(),
                job_id: id.job.clone(),
            });
            wanted.rollouts.insert(id);
        }
        wanted.tasks.insert(key);
    }
    for (full_key, pair) in observed.kv.iter().flatten() {
        match parse(&ctx.prefix, full_key) {
            // Records of allocations that left this node: their task reconciler releases
            // whatever they still hold.
            Ok(Key::State {
                node,
                alloc_id,
                task,
            }) if node == ctx.node => {
                wanted.tasks.insert(TaskKey { alloc_id, task });
            }
            // Rollouts this agent leads, so it hands the lock back when it no longer takes
            // part.
            Ok(Key::TaskLock(task))
                if session.is_some_and(|s| pair.session.as_deref() == Some(s.as_str())) =>
            {
                wanted.rollouts.insert(task);
            }
            _ => {}
        }
    }
    wanted
}
