//! Deployments with canaries, as Nomad's scheduler and deployment watcher run them for service
//! jobs (scheduler/reconciler/reconcile_cluster.go, nomad/deploymentwatcher,
//! nomad/state/state_store.go). When a changed job has a group with `Update.Canary = k > 0`
//! (and `MaxParallel > 0`) and that group runs allocations of an older version, a deployment is
//! created and k canaries of the new version are placed beside the old allocations, which keep
//! running. Canaries take the names of the old allocations first (`NextCanaries`): canary `i`
//! reuses the index of the `i`-th old allocation, and goes to that allocation's node.
//!
//! The deployment then waits for promotion (`promote`; automatic with `auto_promote` once every
//! canary is healthy). After it, the old allocations sharing a canary's name are stopped and
//! the others are replaced `MaxParallel` at a time, each batch once every allocation of the
//! deployment is healthy (`progress`). Health comes from the client side
//! (`crate::runtime::deploy_health`).

mod progress;
mod promote;

pub use progress::{advance, set_health};
pub use promote::promote;

use std::sync::Arc;

use crate::clock::now_nanos;
use crate::model::alloc::Alloc;
use crate::model::deployment::{AllocDeploymentStatus, CANCELLED, Deployment, DeploymentState};
use crate::model::job::{Job, TaskGroup};
use crate::scheduler::{NOT_NEEDED, Outcome, mark_stop, new_alloc, ready_nodes};
use crate::state::Inner;

/// The job's active deployment, if any.
pub fn active_for(inner: &Inner, namespace: &str, job_id: &str) -> Option<String> {
    inner
        .deployments
        .values()
        .filter(|d| d.namespace == namespace && d.job_id == job_id && d.active())
        .max_by_key(|d| d.create_index)
        .map(|d| d.id.clone())
}

/// Allocations of the job's group that Nomad has not finished with on the server side.
fn live_in_group<'a>(
    inner: &'a Inner,
    namespace: &'a str,
    job_id: &'a str,
    group: &'a str,
) -> impl Iterator<Item = &'a Alloc> + 'a {
    inner.allocs.values().filter(move |a| {
        a.namespace == namespace && a.job_id == job_id && a.task_group == group && !a.terminal()
    })
}

fn takes_canaries(group: &TaskGroup) -> bool {
    group
        .update
        .as_ref()
        .is_some_and(|u| u.canary.unwrap_or(0) > 0 && u.max_parallel.unwrap_or(0) > 0)
}

/// The groups of a changed job that get canaries: a canary count, deployments enabled
/// (`MaxParallel > 0`), and allocations of an older version running.
pub fn canary_groups(inner: &Inner, job: &Job) -> Vec<String> {
    job.task_groups
        .iter()
        .filter(|g| takes_canaries(g))
        .filter(|g| {
            live_in_group(inner, &job.namespace, &job.id, &g.name)
                .any(|a| a.job.version != job.version)
        })
        .map(|g| g.name.clone())
        .collect()
}

/// Cancels the job's active deployment (a newer version, or the job stopped) and stops its
/// canaries that were never promoted (`cancelUnneededCanaries`).
pub fn cancel_active(
    inner: &mut Inner,
    namespace: &str,
    job_id: &str,
    description: &str,
    index: u64,
    out: &mut Outcome,
) {
    let Some(id) = active_for(inner, namespace, job_id) else {
        return;
    };
    let mut unpromoted = Vec::new();
    if let Some(d) = inner.deployments.get_mut(&id) {
        d.status = CANCELLED.into();
        d.status_description = description.into();
        d.modify_index = index;
        d.modify_time = now_nanos();
        for state in d.task_groups.values().filter(|s| !s.promoted) {
            unpromoted.extend(state.placed_canaries.iter().cloned());
        }
    }
    inner.deployments_index = index;
    for alloc_id in unpromoted {
        if let Some(alloc) = inner.allocs.get_mut(&alloc_id)
            && !alloc.terminal()
        {
            mark_stop(alloc, NOT_NEEDED, index);
            out.stop.push(alloc_id);
        }
    }
    inner.allocs_index = index;
}

/// `NextCanaries`: `k` names for canaries, given the indexes of the group's old allocations
/// (those the update replaces) and the group's count. The old allocations' indexes come first,
/// lowest first; then free indexes below the count; then indexes from the count upwards.
pub fn canary_indexes(old: &[u32], count: u32, k: u32) -> Vec<u32> {
    let mut taken: Vec<u32> = old.to_vec();
    taken.sort_unstable();
    taken.dedup();
    let mut out: Vec<u32> = taken.iter().copied().filter(|i| *i < count).collect();
    out.extend((0..count).filter(|i| !taken.contains(i)));
    out.truncate(k as usize);
    let mut next = count;
    while out.len() < k as usize {
        out.push(next);
        next += 1;
    }
    out
}

/// The node for an allocation meant to sit beside (or in place of) one on `node_id`: that
/// node while it is ready, else ready node `index mod n`.
pub(crate) fn node_beside(inner: &Inner, node_id: Option<&str>, index: u32) -> Option<usize> {
    let ready = ready_nodes(inner);
    let same = node_id
        .and_then(|id| inner.node_position(id))
        .filter(|n| ready.contains(n));
    same.or_else(|| ready.get(index as usize % ready.len().max(1)).copied())
}

/// Creates the deployment of `job`'s new version and places the canaries of `groups`.
pub fn start(
    inner: &mut Inner,
    job: &Arc<Job>,
    groups: &[String],
    eval_id: &str,
    index: u64,
    out: &mut Outcome,
) {
    let now = now_nanos();
    let mut deployment = Deployment::new(job, index, now);
    for name in groups {
        let Some(group) = job.group(name) else {
            continue;
        };
        let update = group.update.clone().unwrap_or_default();
        let mut old: Vec<(u32, String)> = live_in_group(inner, &job.namespace, &job.id, name)
            .map(|a| (a.index, a.node_id.clone()))
            .collect();
        old.sort();
        let indexes: Vec<u32> = old.iter().map(|(i, _)| *i).collect();
        let count = u32::try_from(group.count().max(0)).unwrap_or(0);
        let k = u32::try_from(update.canary.unwrap_or(0).max(0)).unwrap_or(0);
        let mut state = DeploymentState {
            auto_revert: update.auto_revert.unwrap_or(false),
            auto_promote: update.auto_promote.unwrap_or(false),
            progress_deadline: update.progress_deadline.unwrap_or(0),
            desired_canaries: k,
            desired_total: count,
            ..DeploymentState::default()
        };
        for canary_index in canary_indexes(&indexes, count, k) {
            let beside = old.iter().find(|(i, _)| *i == canary_index);
            let Some(node) = node_beside(inner, beside.map(|(_, n)| n.as_str()), canary_index)
            else {
                continue;
            };
            let mut alloc = new_alloc(inner, job, name, canary_index, node, eval_id, index, "");
            alloc.deployment_id = deployment.id.clone();
            alloc.deployment_status = Some(AllocDeploymentStatus::canary());
            state.placed_canaries.push(alloc.id.clone());
            state.placed_allocs += 1;
            out.start.push(alloc.id.clone());
            inner.allocs.insert(alloc.id.clone(), alloc);
        }
        // The progress deadline starts with the first placement.
        if state.progress_deadline > 0 && state.placed_allocs > 0 {
            state.require_progress_by = now + state.progress_deadline;
        }
        deployment.task_groups.insert(name.clone(), state);
    }
    deployment.status_description = deployment.running_description().into();
    inner.deployments.insert(deployment.id.clone(), deployment);
    inner.deployments_index = index;
    inner.allocs_index = index;
}

/// A replacement for `old` (node lost, alloc stopped) during the job's active deployment:
/// an allocation of the deployment is replaced within it (a canary by a canary); an old
/// allocation keeps its version while the canaries wait for promotion (`downgradeNonCanary`)
/// and joins the deployment after it.
pub fn inherit(inner: &mut Inner, old: &Alloc, new: &mut Alloc) {
    let Some(id) = active_for(inner, &old.namespace, &old.job_id) else {
        return;
    };
    let Some(state) = inner
        .deployments
        .get_mut(&id)
        .and_then(|d| d.task_groups.get_mut(&old.task_group))
    else {
        return;
    };
    if old.deployment_id != id && state.desired_canaries > 0 && !state.promoted {
        new.job = old.job.clone();
        return;
    }
    new.deployment_id = id;
    state.placed_allocs += 1;
    if old.deployment_id == new.deployment_id && old.is_canary() {
        new.deployment_status = Some(AllocDeploymentStatus::canary());
        state.placed_canaries.push(new.id.clone());
    }
}

#[cfg(test)]
mod tests;
