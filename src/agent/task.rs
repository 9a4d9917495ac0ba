//! The task reconciler as the runtime runs it: gathers one allocation's task from the store and
//! the disk, asks the decision core, applies the actions.

use std::sync::Arc;
use std::time::Duration;

use shepard_reconcilers::Key;
use shepard_reconcilers::model::{AllocRecord, AllocRef, KvView, TaskSpec};
use shepard_reconcilers::task::{TaskObservation, reconcile_task};
use shepard_reconcilers::trigger::TriggerSite;

use super::shared::Shared;
use super::snapshot::{self, TaskKey};
use super::trigger_sites::node_triggers;
use crate::apply::ApplyError;
use crate::runtime::Reconciler;

/// Runs the decision core's task reconciler for one allocation's task on this node.
pub struct TaskReconciler(pub Arc<Shared>);

/// The observation's owned parts, gathered under the store's read lock.
struct Gathered {
    obs_task: shepard_reconcilers::model::TaskId,
    job_name: String,
    alloc: AllocRef,
    status: Option<shepard_reconcilers::model::AllocStatus>,
    run: Option<shepard_reconcilers::model::TaskRun>,
    spec: TaskSpec,
    checks: Vec<shepard_reconcilers::model::CheckObservation>,
    kv: KvView,
    node_triggers: Vec<TriggerSite>,
}

impl TaskReconciler {
    fn gather(&self, key: &TaskKey) -> Option<Gathered> {
        let shared = &self.0;
        let observed = shared.store.read();
        let kv = snapshot::kv_view(observed.kv.as_ref()?);
        if let Some(t) = snapshot::find_alloc_task(&observed, key) {
            return Some(Gathered {
                obs_task: t.id(),
                job_name: t.job.name.clone(),
                alloc: t.alloc_ref()?,
                status: snapshot::alloc_status(&t.alloc.desired_status, &t.alloc.client_status),
                run: t
                    .alloc
                    .task_state(&t.task.name)
                    .and_then(snapshot::task_run),
                spec: snapshot::task_spec(t.job, t.group, t.task),
                checks: snapshot::alloc_checks(&t.alloc.id, t.group, observed.checks.values()),
                kv,
                node_triggers: node_triggers(&observed),
            });
        }
        // Nomad no longer lists the allocation: what is left is its record, which names the
        // task; the decision core releases whatever it still holds.
        let record_key =
            Key::state(&shared.ctx.node, &key.alloc_id, &key.task).render(&shared.ctx.prefix);
        let record = AllocRecord::from_json(kv.get(&record_key)?.value.as_deref()?).ok()?;
        Some(Gathered {
            job_name: record.task.job.clone(),
            alloc: AllocRef {
                id: key.alloc_id.clone(),
                index: record.alloc_index,
                node: shared.ctx.node.clone(),
            },
            obs_task: record.task,
            status: None,
            run: None,
            spec: TaskSpec::default(),
            checks: Vec::new(),
            kv,
            node_triggers: Vec::new(),
        })
    }
}

impl Reconciler<TaskKey> for TaskReconciler {
    type Error = ApplyError;

    fn name(&self) -> &'static str {
        "task"
    }

    async fn reconcile(&self, key: &TaskKey) -> Result<Option<Duration>, ApplyError> {
        let shared = &self.0;
        let (now, clock_stepped_at) = snapshot::clock(&shared.store);
        let Some(g) = self.gather(key) else {
            // Not on this node and no record: nothing to converge.
            shared.set_phase(key, None);
            return Ok(None);
        };
        let files = if g.status.is_some() {
            snapshot::rendered_files(
                &shared.alloc_dir,
                &key.alloc_id,
                &key.task,
                &g.spec,
                &shared.clock,
            )
        } else {
            Vec::new()
        };
        let obs = TaskObservation {
            task: g.obs_task,
            job_name: g.job_name,
            alloc: g.alloc,
            status: g.status,
            run: g.run,
            spec: g.spec,
            files,
            checks: g.checks,
            session: shared.session(),
            kv: &g.kv,
            node_triggers: g.node_triggers,
            clock_stepped_at,
        };
        let token = shared.ids.next();
        let decided = reconcile_task(&obs, &shared.ctx, now, &token);
        let live = obs.status.is_some_and(|s| s.is_live());
        shared.set_phase(key, (decided.managed && live).then_some(decided.phase));
        if !decided.decision.actions.is_empty() {
            tracing::debug!(phase = ?decided.phase, actions = ?decided.decision.actions, "task decision");
        }
        shared
            .apply(&decided.decision.actions, decided.decision.requeue_after)
            .await
    }
}
