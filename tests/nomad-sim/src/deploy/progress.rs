//! A deployment moving on: the client's health verdicts (counted as
//! `updateDeploymentWithAlloc` counts them; an unhealthy allocation fails the deployment, as
//! the deployment watcher does), automatic promotion once every canary is healthy
//! (`autoPromoteDeployment`), and after promotion the reconciler's steps: old allocations that
//! share a canary's name are not needed, the others are replaced `MaxParallel` at a time while
//! every allocation of the deployment is healthy, and the deployment succeeds (the job version
//! turns stable) once the group runs only healthy allocations of the new version.

use std::sync::Arc;

use super::promote::{apply_promotion, promotable};
use super::{live_in_group, node_beside};
use crate::clock::now_nanos;
use crate::ids::uuid;
use crate::model::alloc::Alloc;
use crate::model::deployment::{
    AllocDeploymentStatus, DESC_FAILED_ALLOCS, DESC_SUCCESSFUL, FAILED, SUCCESSFUL,
};
use crate::model::job::Job;
use crate::scheduler::{NOT_NEEDED, Outcome, UPDATING, mark_stop, new_alloc};
use crate::state::Inner;

/// The client reports an allocation of a deployment healthy or unhealthy (once; later
/// verdicts with the same value change nothing). Returns what the node clients must do.
pub fn set_health(inner: &mut Inner, alloc_id: &str, healthy: bool) -> Outcome {
    let mut out = Outcome {
        eval_id: uuid(),
        ..Outcome::default()
    };
    let Some(alloc) = inner.allocs.get(alloc_id) else {
        return out;
    };
    if alloc.deployment_id.is_empty() || alloc.healthy().is_some() {
        return out;
    }
    let (deployment_id, group) = (alloc.deployment_id.clone(), alloc.task_group.clone());
    let index = inner.next_index();
    let now = now_nanos();
    out.index = index;
    if let Some(alloc) = inner.allocs.get_mut(alloc_id) {
        let status = alloc
            .deployment_status
            .get_or_insert_with(AllocDeploymentStatus::default);
        status.healthy = Some(healthy);
        status.timestamp = now;
        status.modify_index = index;
        alloc.modify_index = index;
        alloc.modify_time = now;
    }
    inner.allocs_index = index;
    if let Some(d) = inner.deployments.get_mut(&deployment_id) {
        if let Some(state) = d.task_groups.get_mut(&group) {
            if healthy {
                state.healthy_allocs += 1;
                let by = now + state.progress_deadline;
                if state.progress_deadline > 0 && by > state.require_progress_by {
                    state.require_progress_by = by;
                }
            } else {
                state.unhealthy_allocs += 1;
            }
        }
        if !healthy && d.active() {
            d.status = FAILED.into();
            d.status_description = DESC_FAILED_ALLOCS.into();
        }
        d.modify_index = index;
        d.modify_time = now;
    }
    inner.deployments_index = index;
    if auto_promote(inner, &deployment_id) {
        // What follows the promotion is written after it.
        out.index = 0;
    }
    advance(inner, &deployment_id, &mut out);
    out
}

/// Promotes the deployment when every group with canaries has `auto_promote` and all its
/// canaries placed and healthy; whether it did.
fn auto_promote(inner: &mut Inner, deployment_id: &str) -> bool {
    let Some(d) = inner.deployments.get(deployment_id) else {
        return false;
    };
    if !d.requires_promotion() || !d.has_auto_promote() {
        return false;
    }
    let ready = d
        .task_groups
        .iter()
        .filter(|(_, s)| s.desired_canaries > 0)
        .all(|(group, s)| promotable(inner, d, group).len() >= s.desired_canaries as usize);
    if ready {
        let groups: Vec<String> = d.task_groups.keys().cloned().collect();
        apply_promotion(inner, deployment_id, &groups);
    }
    ready
}

/// The reconciler's steps for a promoted (or canary-less) group of an active deployment;
/// marks the deployment successful once every group is done.
pub fn advance(inner: &mut Inner, deployment_id: &str, out: &mut Outcome) {
    let Some(d) = inner.deployments.get(deployment_id).cloned() else {
        return;
    };
    let job = inner
        .jobs
        .get(&(d.namespace.clone(), d.job_id.clone()))
        .cloned();
    let Some(job) = job.filter(|j| d.active() && !j.stop && j.version == d.job_version) else {
        return;
    };
    let mut done = true;
    for (name, state) in &d.task_groups {
        if state.desired_canaries > 0 && !state.promoted {
            done = false;
            continue;
        }
        let Some(group) = job.group(name) else {
            continue;
        };
        let live: Vec<Alloc> = live_in_group(inner, &d.namespace, &d.job_id, name)
            .cloned()
            .collect();
        let (new, mut old): (Vec<Alloc>, Vec<Alloc>) =
            live.into_iter().partition(|a| a.deployment_id == d.id);
        let canary_names: Vec<u32> = new
            .iter()
            .filter(|a| state.placed_canaries.contains(&a.id))
            .map(|a| a.index)
            .collect();
        old.retain(|a| {
            if !canary_names.contains(&a.index) {
                return true;
            }
            stop(inner, &a.id, NOT_NEEDED, out);
            false
        });
        old.sort_by_key(|a| a.index);
        let max_parallel = group.update.as_ref().and_then(|u| u.max_parallel);
        let mut budget = usize::try_from(max_parallel.unwrap_or(1).max(0)).unwrap_or(0);
        if new.iter().any(|a| a.healthy() == Some(false)) {
            budget = 0;
        }
        budget = budget.saturating_sub(new.iter().filter(|a| a.healthy() != Some(true)).count());
        for previous in old.iter().take(budget) {
            stop(inner, &previous.id, UPDATING, out);
            let node = node_beside(inner, Some(&previous.node_id), previous.index);
            if let Some(node) = node {
                place(inner, (&job, name), node, previous, &d.id, out);
            }
        }
        let count = usize::try_from(group.count().max(0)).unwrap_or(0);
        let healthy = new.iter().filter(|a| a.healthy() == Some(true)).count();
        let wanted = (state.desired_total.max(state.desired_canaries)) as usize;
        if !old.is_empty() || healthy < count || (state.healthy_allocs as usize) < wanted {
            done = false;
        }
    }
    if done {
        succeed(inner, deployment_id, out);
    }
}

/// The raft index of the outcome's writes, taken on first use.
fn index_of(out: &mut Outcome, inner: &mut Inner) -> u64 {
    if out.index == 0 {
        out.index = inner.next_index();
    }
    out.index
}

fn stop(inner: &mut Inner, alloc_id: &str, description: &str, out: &mut Outcome) {
    let index = index_of(out, inner);
    if let Some(alloc) = inner.allocs.get_mut(alloc_id) {
        mark_stop(alloc, description, index);
        out.stop.push(alloc_id.to_string());
    }
    inner.allocs_index = index;
}

/// Places the new version of `previous` (a destructive update): same name, beside it.
fn place(
    inner: &mut Inner,
    (job, group): (&Arc<Job>, &str),
    node: usize,
    previous: &Alloc,
    deployment_id: &str,
    out: &mut Outcome,
) {
    let index = index_of(out, inner);
    let eval_id = out.eval_id.clone();
    let mut alloc = new_alloc(
        inner,
        job,
        group,
        previous.index,
        node,
        &eval_id,
        index,
        &previous.id,
    );
    alloc.deployment_id = deployment_id.to_string();
    if let Some(prev) = inner.allocs.get_mut(&previous.id) {
        prev.next_allocation = alloc.id.clone();
    }
    if let Some(state) = inner
        .deployments
        .get_mut(deployment_id)
        .and_then(|d| d.task_groups.get_mut(group))
    {
        state.placed_allocs += 1;
    }
    out.start.push(alloc.id.clone());
    inner.allocs.insert(alloc.id.clone(), alloc);
    inner.allocs_index = index;
}

/// The deployment is successful and its job version stable.
fn succeed(inner: &mut Inner, deployment_id: &str, out: &mut Outcome) {
    let index = index_of(out, inner);
    let now = now_nanos();
    let Some(d) = inner.deployments.get_mut(deployment_id) else {
        return;
    };
    d.status = SUCCESSFUL.into();
    d.status_description = DESC_SUCCESSFUL.into();
    d.modify_index = index;
    d.modify_time = now;
    let key = (d.namespace.clone(), d.job_id.clone());
    inner.deployments_index = index;
    if let Some(job) = inner.jobs.get_mut(&key) {
        let job = Arc::make_mut(job);
        job.stable = true;
        job.modify_index = index;
        inner.jobs_index = index;
    }
}
