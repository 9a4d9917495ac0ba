//! Canary placement and the deployment's steps on the state store alone (no processes): which
//! index and node a canary takes, what promotion is refused and what it does, and how the
//! replacements that follow it are paced by health.

use serde_json::{Value, json};

use super::*;
use crate::model::canonical::canonicalize;
use crate::model::deployment::{
    DESC_AUTO_PROMOTION, DESC_NEEDS_PROMOTION, DESC_NEWER_JOB, DESC_SUCCESSFUL, FAILED, RUNNING,
};
use crate::model::node::Node;
use crate::scheduler::{UPDATING, register_job};

fn cluster(nodes: usize) -> Inner {
    let mut inner = Inner::default();
    for i in 0..nodes {
        let index = inner.next_index();
        inner.nodes.push(Node {
            id: format!("node-{i}"),
            name: format!("sim-node-{i}"),
            datacenter: "dc1".into(),
            region: "global".into(),
            http_addr: String::new(),
            data_dir: std::path::PathBuf::new(),
            status: "ready".into(),
            status_updated_at: 0,
            events: Vec::new(),
            create_index: index,
            modify_index: index,
        });
    }
    inner
}

/// A service job of `count` allocations; `update` is merged into the group's update block and
/// `version` goes into the task's env (a destructive change).
fn job(count: u32, update: Value, version: &str) -> Job {
    let mut group_update = json!({"MaxParallel": 1, "MinHealthyTime": 0});
    if let (Some(base), Some(more)) = (group_update.as_object_mut(), update.as_object()) {
        base.extend(more.clone());
    }
    let raw = json!({
        "ID": "web", "Name": "web", "Type": "service",
        "TaskGroups": [{"Name": "web", "Count": count, "Update": group_update,
            "Tasks": [{"Name": "app", "Driver": "raw_exec", "Env": {"VERSION": version},
                       "Config": {"command": "/bin/true"}}]}]
    });
    let mut job: Job = serde_json::from_value(raw).expect("job JSON");
    canonicalize(&mut job, "global");
    job
}

fn live(inner: &Inner) -> Vec<&Alloc> {
    inner.allocs.values().filter(|a| !a.terminal()).collect()
}

fn canaries(inner: &Inner) -> Vec<&Alloc> {
    live(inner).into_iter().filter(|a| a.is_canary()).collect()
}

fn deployment(inner: &Inner) -> &Deployment {
    inner.deployments.values().next().expect("a deployment")
}

/// A running two-allocation job on one node, then its version 1 with one canary.
fn canarying(count: u32, update: Value) -> Inner {
    let mut inner = cluster(1);
    register_job(&mut inner, job(count, update.clone(), "1"));
    register_job(&mut inner, job(count, update, "2"));
    inner
}

#[test]
fn canary_names_reuse_the_old_indexes_first() {
    assert_eq!(canary_indexes(&[0, 1, 2], 3, 1), [0]);
    assert_eq!(canary_indexes(&[2, 1], 3, 2), [1, 2]);
    // A free index below the count before any index above it.
    assert_eq!(canary_indexes(&[1], 3, 2), [1, 0]);
    assert_eq!(canary_indexes(&[0, 1, 2], 3, 5), [0, 1, 2, 3, 4]);
}

#[test]
fn a_canary_takes_index_zero_beside_the_old_allocation_which_keeps_running() {
    let inner = canarying(2, json!({"Canary": 1}));
    let canary = canaries(&inner)[0];
    assert_eq!((canary.index, canary.name.as_str()), (0, "web.web[0]"));
    assert_eq!(canary.job.version, 1);
    let old: Vec<&Alloc> = live(&inner)
        .into_iter()
        .filter(|a| a.job.version == 0)
        .collect();
    assert_eq!(old.len(), 2, "the old allocations keep running");
    let old_zero = old.iter().find(|a| a.index == 0).expect("old index 0");
    assert_eq!(canary.node_id, old_zero.node_id);
    assert_ne!(canary.id, old_zero.id);
    assert!(old_zero.deployment_id.is_empty());
    let d = deployment(&inner);
    assert_eq!(canary.deployment_id, d.id);
    assert_eq!((d.status.as_str(), d.job_version), (RUNNING, 1));
    assert_eq!(d.status_description, DESC_NEEDS_PROMOTION);
    let state = &d.task_groups["web"];
    assert_eq!(state.placed_canaries, std::slice::from_ref(&canary.id));
    assert_eq!(
        (
            state.desired_canaries,
            state.desired_total,
            state.placed_allocs
        ),
        (1, 2, 1)
    );
    let encoded = canary.to_stub_json();
    assert_eq!(
        encoded["DeploymentStatus"],
        json!({"Canary": true, "Healthy": null, "ModifyIndex": 0, "Timestamp": null})
    );
}

#[test]
fn a_first_version_and_a_job_without_canaries_get_no_deployment() {
    let mut inner = cluster(1);
    register_job(&mut inner, job(2, json!({"Canary": 1}), "1"));
    assert!(inner.deployments.is_empty());
    register_job(&mut inner, job(2, json!({}), "2"));
    assert!(inner.deployments.is_empty());
    assert!(live(&inner).iter().all(|a| a.job.version == 1));
}

#[test]
fn promotion_waits_for_healthy_canaries_then_replaces_the_old_allocations() {
    let mut inner = canarying(2, json!({"Canary": 1}));
    let d_id = deployment(&inner).id.clone();
    let refused = promote(&mut inner, &d_id, true, &[]).map(|_| ());
    assert_eq!(
        refused,
        Err((
            500,
            "1 error occurred:\n\t* Task group \"web\" has 0/1 healthy allocations\n\n".into()
        ))
    );
    let canary = canaries(&inner)[0].id.clone();
    set_health(&mut inner, &canary, true);
    assert_eq!(deployment(&inner).task_groups["web"].healthy_allocs, 1);
    let out = promote(&mut inner, &d_id, true, &[]).expect("promoted");
    assert_eq!((out.stop.len(), out.start.len()), (2, 1));
    let promoted = &inner.allocs[&canary];
    assert!(!promoted.is_canary() && promoted.desired_status == "run");
    let stopped: Vec<(u32, &str)> = inner
        .allocs
        .values()
        .filter(|a| a.job.version == 0)
        .map(|a| (a.index, a.desired_description.as_str()))
        .collect();
    assert!(stopped.contains(&(0, crate::scheduler::NOT_NEEDED)));
    assert!(stopped.contains(&(1, UPDATING)));
    let new = &inner.allocs[&out.start[0]];
    assert_eq!((new.index, new.job.version), (1, 1));
    assert_eq!(new.deployment_id, d_id);
    assert!(!new.previous_allocation.is_empty());
    assert!(deployment(&inner).active());

    let new_id = new.id.clone();
    set_health(&mut inner, &new_id, true);
    let d = deployment(&inner);
    assert_eq!(d.status_description, DESC_SUCCESSFUL);
    assert!(inner.jobs.values().all(|j| j.stable));
}

#[test]
fn replacements_after_promotion_go_max_parallel_at_a_time() {
    let mut inner = canarying(4, json!({"Canary": 1, "MaxParallel": 2}));
    let d_id = deployment(&inner).id.clone();
    let canary = canaries(&inner)[0].id.clone();
    set_health(&mut inner, &canary, true);
    let first = promote(&mut inner, &d_id, true, &[]).expect("promoted");
    assert_eq!(first.start.len(), 2, "max_parallel replacements");
    // One of them healthy frees one place: the last old allocation goes.
    let next = set_health(&mut inner, &first.start[0], true);
    assert_eq!(next.start.len(), 1);
    let again = set_health(&mut inner, &first.start[0], true);
    assert!(
        again.start.is_empty() && again.index == 0,
        "a verdict counts once"
    );
    set_health(&mut inner, &first.start[1], true);
    assert_eq!(deployment(&inner).status, RUNNING);
    set_health(&mut inner, &next.start[0], true);
    assert_eq!(deployment(&inner).status_description, DESC_SUCCESSFUL);
    assert_eq!(deployment(&inner).task_groups["web"].healthy_allocs, 4);
}

#[test]
fn auto_promote_promotes_once_the_canaries_are_healthy() {
    let mut inner = canarying(2, json!({"Canary": 1, "AutoPromote": true}));
    assert_eq!(deployment(&inner).status_description, DESC_AUTO_PROMOTION);
    let canary = canaries(&inner)[0].id.clone();
    let out = set_health(&mut inner, &canary, true);
    assert!(deployment(&inner).task_groups["web"].promoted);
    assert_eq!(out.start.len(), 1);
}

#[test]
fn an_unhealthy_canary_fails_the_deployment_and_nothing_is_replaced() {
    let mut inner = canarying(2, json!({"Canary": 1, "AutoPromote": true}));
    let canary = canaries(&inner)[0].id.clone();
    let out = set_health(&mut inner, &canary, false);
    assert!(out.start.is_empty() && out.stop.is_empty());
    assert_eq!(deployment(&inner).status, FAILED);
    let d_id = deployment(&inner).id.clone();
    let refused = promote(&mut inner, &d_id, true, &[]);
    assert_eq!(
        refused.map(|_| ()),
        Err((500, "can't promote terminal deployment".into()))
    );
}

#[test]
fn a_newer_version_cancels_the_deployment_and_stops_its_canaries() {
    let mut inner = canarying(2, json!({"Canary": 1}));
    let first = deployment(&inner).id.clone();
    let canary = canaries(&inner)[0].id.clone();
    register_job(&mut inner, job(2, json!({"Canary": 1}), "3"));
    assert_eq!(inner.deployments[&first].status_description, DESC_NEWER_JOB);
    assert!(inner.allocs[&canary].terminal());
    let again = canaries(&inner);
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].index, again[0].job.version), (0, 2));
    assert_eq!(live(&inner).len(), 3);
}
