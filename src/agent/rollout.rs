//! The rollout reconciler as the runtime runs it: one task across the cluster, from the job's
//! allocation listing and the KV view; also publishes the rollout gauges of the task.

use std::sync::Arc;
use std::time::Duration;

use shepard_reconcilers::Key;
use shepard_reconcilers::model::{RolloutRecord, TaskId};
use shepard_reconcilers::rollout::{RolloutObservation, reconcile_rollout};

use super::shared::Shared;
use super::snapshot;
use crate::apply::ApplyError;
use crate::observe::store::JobRef;
use crate::runtime::Reconciler;

/// Runs the decision core's rollout reconciler for one task.
pub struct RolloutReconciler(pub Arc<Shared>);

impl Reconciler<TaskId> for RolloutReconciler {
    type Error = ApplyError;

    fn name(&self) -> &'static str {
        "rollout"
    }

    async fn reconcile(&self, task: &TaskId) -> Result<Option<Duration>, ApplyError> {
        let shared = &self.0;
        let gathered = {
            let observed = shared.store.read();
            let spec = snapshot::alloc_tasks(&observed)
                .into_iter()
                .find(|t| t.id() == *task)
                .map(|t| snapshot::task_spec(t.job, t.group, t.task));
            let job = JobRef {
                namespace: task.namespace.clone(),
                job_id: task.job.clone(),
            };
            let members = observed
                .job_allocs
                .get(&job)
                .map(|stubs| snapshot::members(stubs, &task.group));
            let kv = observed.kv.as_ref().map(snapshot::kv_view);
            (spec, members, kv)
        };
        let (Some(kv), Some(members)) = (gathered.2, gathered.1) else {
            // Not observed yet; the watches enqueue the task again when they answer.
            return Ok(None);
        };
        let session = shared.session();
        let (now, clock_stepped_at) = snapshot::clock(&shared.store);
        let obs = RolloutObservation {
            task: task.clone(),
            spec: gathered.0.unwrap_or_default(),
            members,
            session: session.clone(),
            kv: &kv,
            clock_stepped_at,
        };
        let rollout_id = shared.ids.next();
        let decision = reconcile_rollout(&obs, &shared.ctx, now, &rollout_id);
        publish_gauges(shared, task, &kv, session.as_ref());
        if !decision.actions.is_empty() {
            tracing::debug!(actions = ?decision.actions, "rollout decision");
        }
        shared
            .apply(&decision.actions, decision.requeue_after)
            .await
    }
}

fn publish_gauges(
    shared: &Shared,
    task: &TaskId,
    kv: &shepard_reconcilers::model::KvView,
    session: Option<&shepard_reconcilers::model::SessionId>,
) {
    let record_key = Key::Rollout(task.clone()).render(&shared.ctx.prefix);
    let state = kv
        .get(&record_key)
        .and_then(|e| e.value.as_deref())
        .and_then(|v| RolloutRecord::from_json(v).ok())
        .map(|r| r.state);
    let lock_key = Key::TaskLock(task.clone()).render(&shared.ctx.prefix);
    let leader = session.is_some() && kv.get(&lock_key).and_then(|e| e.session.as_ref()) == session;
    shared.metrics.set_rollout(task, state, leader);
}
