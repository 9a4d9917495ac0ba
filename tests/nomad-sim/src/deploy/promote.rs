//! `Deployment.Promote` (nomad/deployment_endpoint.go, `UpdateDeploymentPromotion` in
//! nomad/state/state_store.go): refused for a deployment that is not active, and unless every
//! promoted group with canaries has as many healthy, running canaries as it wants (a go-
//! multierror of `Task group "<g>" has <n>/<k> healthy allocations`). Promoting marks the
//! groups promoted and their canaries no longer canaries; the evaluation that follows moves
//! the deployment on (`super::advance`).

use super::advance;
use crate::clock::now_nanos;
use crate::ids::uuid;
use crate::model::alloc::Alloc;
use crate::model::canonical::multierror;
use crate::model::deployment::Deployment;
use crate::scheduler::Outcome;
use crate::state::Inner;

/// The healthy, non-terminal canaries of `group` in `d`.
pub(super) fn promotable<'a>(inner: &'a Inner, d: &Deployment, group: &str) -> Vec<&'a Alloc> {
    let Some(state) = d.task_groups.get(group) else {
        return Vec::new();
    };
    state
        .placed_canaries
        .iter()
        .filter_map(|id| inner.allocs.get(id))
        .filter(|a| !a.terminal() && a.healthy() == Some(true))
        .collect()
}

/// A promotion request of the API: every group (`All`) or the named ones. Errors are the
/// HTTP status and text Nomad answers with.
pub fn promote(
    inner: &mut Inner,
    deployment_id: &str,
    all: bool,
    groups: &[String],
) -> Result<Outcome, (u16, String)> {
    let Some(d) = inner.deployments.get(deployment_id) else {
        return Err((500, "deployment not found".into()));
    };
    if !d.active() {
        return Err((500, "can't promote terminal deployment".into()));
    }
    let chosen: Vec<String> = d
        .task_groups
        .keys()
        .filter(|g| all || groups.contains(g))
        .cloned()
        .collect();
    let short: Vec<String> = chosen
        .iter()
        .filter_map(|g| {
            let need = d.task_groups.get(g)?.desired_canaries;
            let have = promotable(inner, d, g).len();
            (need > 0 && have < need as usize)
                .then(|| format!("Task group {g:?} has {have}/{need} healthy allocations"))
        })
        .collect();
    if !short.is_empty() {
        return Err((500, multierror(&short)));
    }
    let index = apply_promotion(inner, deployment_id, &chosen);
    // The evaluation the promotion creates is planned at a later index, if it changes anything.
    let mut out = Outcome {
        eval_id: uuid(),
        ..Outcome::default()
    };
    advance(inner, deployment_id, &mut out);
    out.index = index;
    Ok(out)
}

/// Marks `groups` promoted and their healthy canaries no longer canaries, at a new index.
pub(super) fn apply_promotion(inner: &mut Inner, deployment_id: &str, groups: &[String]) -> u64 {
    let index = inner.next_index();
    let now = now_nanos();
    let Some(d) = inner.deployments.get(deployment_id).cloned() else {
        return index;
    };
    let canaries: Vec<String> = groups
        .iter()
        .flat_map(|g| promotable(inner, &d, g))
        .map(|a| a.id.clone())
        .collect();
    if let Some(d) = inner.deployments.get_mut(deployment_id) {
        for (name, state) in d.task_groups.iter_mut() {
            if !groups.contains(name) {
                continue;
            }
            state.promoted = true;
            if state.progress_deadline > 0 && state.require_progress_by != 0 {
                state.require_progress_by = now + state.progress_deadline;
            }
        }
        if d.status == crate::model::deployment::RUNNING {
            d.status_description = d.running_description().into();
        }
        d.modify_index = index;
        d.modify_time = now;
    }
    for id in canaries {
        if let Some(alloc) = inner.allocs.get_mut(&id)
            && let Some(status) = alloc.deployment_status.as_mut()
        {
            status.canary = false;
            status.modify_index = index;
            alloc.modify_index = index;
            alloc.alloc_modify_index = index;
        }
    }
    inner.deployments_index = index;
    inner.allocs_index = index;
    index
}
