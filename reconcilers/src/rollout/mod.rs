//! The rollout reconciler: one task across the cluster. Every agent with a live allocation of
//! the task runs it; it takes the `task_lock` when free, gives it up when this node no longer
//! runs the task, and only the holder goes on to converge the rollout record (`leader`).

mod leader;

pub use leader::runs_digest;
mod orphans;

use crate::action::{Action, Decision};
use crate::context::Context;
use crate::keys::Key;
use crate::model::{AllocRef, AllocStatus, KvView, LockHolder, SessionId, TaskId, TaskSpec};
use crate::settings;
use crate::time::Timestamp;

/// One allocation of the task, anywhere in the cluster, as Nomad lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The allocation.
    pub alloc: AllocRef,
    /// Its status.
    pub status: AllocStatus,
}

/// Everything observed about one task for its rollout.
#[derive(Clone, Debug)]
pub struct RolloutObservation<'a> {
    /// The task.
    pub task: TaskId,
    /// The job spec parts for the task (settings).
    pub spec: TaskSpec,
    /// Nomad's allocations of the task's group, on every node (e.g. `/v1/job/:id/allocations`).
    pub members: Vec<Member>,
    /// This agent's live session.
    pub session: Option<SessionId>,
    /// The KV listing under the prefix.
    pub kv: &'a KvView,
    /// When this agent last saw its host's wall clock step, if it has since it started: the
    /// stall watch counts from no earlier than that.
    pub clock_stepped_at: Option<Timestamp>,
}

/// Decides the next step for a task's rollout. `new_rollout_id` is a fresh unique ID, used if
/// a rollout is created.
pub fn reconcile_rollout(
    obs: &RolloutObservation<'_>,
    ctx: &Context,
    now: Timestamp,
    new_rollout_id: &str,
) -> Decision {
    let mut decision = Decision::default();
    let Some(session) = obs.session.clone() else {
        return decision;
    };
    let settings = settings::resolve(&obs.task, &obs.spec, &ctx.defaults).settings;
    let lock_key = Key::TaskLock(obs.task.clone()).render(&ctx.prefix);
    let holder = obs.kv.get(&lock_key).and_then(|e| e.session.clone());
    let participating = settings.managed
        && obs
            .members
            .iter()
            .any(|m| m.alloc.node == ctx.node && m.status.should_run());
    match holder {
        Some(h) if h == session && participating => {
            leader::converge(
                obs,
                ctx,
                &settings,
                now,
                new_rollout_id,
                &lock_key,
                &session,
                &mut decision,
            );
        }
        Some(h) if h == session => decision.push(Action::ReleaseTaskLock {
            key: lock_key,
            session,
        }),
        Some(_) => {}
        None if participating => {
            let holder = LockHolder {
                node: ctx.node.clone(),
                acquired_at: now,
            };
            decision.push(Action::AcquireTaskLock {
                key: lock_key,
                session,
                holder,
            });
        }
        None => {}
    }
    decision
}

/// Whether an allocation counts for the rollout: meant to run.
fn participates(status: AllocStatus) -> bool {
    status.should_run()
}
