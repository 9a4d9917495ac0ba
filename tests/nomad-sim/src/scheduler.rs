//! The server side: job registration and deregistration, alloc stop, and node down/up, as
//! state-store transactions. Placement is round-robin over ready nodes (alloc `i` of a group on
//! ready node `i mod n`); replacements go to the least-loaded ready node. A changed job replaces
//! its allocations at once, except in groups that take canaries: those are left to a
//! deployment (`crate::deploy`). Each operation returns which allocs the node clients must
//! start and stop.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;

use crate::clock::now_nanos;
use crate::deploy;
use crate::ids::{random_below, uuid};
use crate::model::alloc::{Alloc, PortMapping};
use crate::model::deployment::{DESC_NEWER_JOB, DESC_STOPPED_JOB};
use crate::model::job::Job;
use crate::model::node::NodeEvent;
use crate::state::Inner;

/// What the node clients must do after a server-side change.
#[derive(Debug, Default)]
pub struct Outcome {
    pub eval_id: String,
    pub index: u64,
    pub job_modify_index: u64,
    /// Alloc IDs to start (their node is in the alloc).
    pub start: Vec<String>,
    /// Alloc IDs whose processes must be stopped.
    pub stop: Vec<String>,
}

pub(crate) const UPDATING: &str = "alloc is being updated due to job update";
pub(crate) const NOT_NEEDED: &str = "alloc not needed due to job update";
const MIGRATING: &str = "alloc is being migrated";
const LOST: &str = "alloc is lost since its node is down";

/// `Job.Register`: stores the job (a new version when the spec changed) and replaces its
/// allocations when it did, or places canaries beside them in groups that take canaries. An
/// unchanged job changes nothing.
pub fn register_job(inner: &mut Inner, mut job: Job) -> Outcome {
    let key = (job.namespace.clone(), job.id.clone());
    let existing = inner.jobs.get(&key).cloned();
    if let Some(old) = &existing
        && !old.stop
        && old.spec_equals(&job)
    {
        return Outcome {
            eval_id: uuid(),
            index: inner.index,
            job_modify_index: old.job_modify_index,
            ..Outcome::default()
        };
    }
    let index = inner.next_index();
    job.create_index = existing.as_ref().map_or(index, |j| j.create_index);
    job.modify_index = index;
    job.job_modify_index = index;
    job.version = existing.as_ref().map_or(0, |j| j.version + 1);
    job.submit_time = now_nanos();
    job.status = "pending".into();
    job.stop = false;
    let job = Arc::new(job);
    inner.jobs.insert(key.clone(), job.clone());
    inner.jobs_index = index;
    let mut outcome = Outcome {
        eval_id: uuid(),
        index,
        job_modify_index: index,
        ..Outcome::default()
    };
    let description = if existing.is_some() {
        UPDATING
    } else {
        NOT_NEEDED
    };
    let eval_id = outcome.eval_id.clone();
    deploy::cancel_active(inner, &key.0, &key.1, DESC_NEWER_JOB, index, &mut outcome);
    // A first version has nothing to canary against.
    let canary_groups = match existing {
        Some(_) => deploy::canary_groups(inner, &job),
        None => Vec::new(),
    };
    stop_job_allocs(
        inner,
        (&key.0, &key.1),
        &canary_groups,
        description,
        index,
        &mut outcome,
    );
    place_job(inner, &job, &canary_groups, &eval_id, index, &mut outcome);
    if !canary_groups.is_empty() {
        deploy::start(inner, &job, &canary_groups, &eval_id, index, &mut outcome);
    }
    inner.refresh_job_status(&key.0, &key.1);
    outcome
}

/// `Job.Deregister`: marks the job stopped (or removes it with `purge`) and stops its allocs.
pub fn deregister_job(
    inner: &mut Inner,
    namespace: &str,
    id: &str,
    purge: bool,
) -> Option<Outcome> {
    let key = (namespace.to_string(), id.to_string());
    let old = inner.jobs.get(&key).cloned()?;
    let index = inner.next_index();
    let mut outcome = Outcome {
        eval_id: uuid(),
        index,
        job_modify_index: index,
        ..Outcome::default()
    };
    if purge {
        inner.jobs.remove(&key);
    } else {
        let mut job = (*old).clone();
        job.stop = true;
        job.version += 1;
        job.modify_index = index;
        job.job_modify_index = index;
        job.submit_time = now_nanos();
        inner.jobs.insert(key.clone(), Arc::new(job));
    }
    inner.jobs_index = index;
    deploy::cancel_active(inner, namespace, id, DESC_STOPPED_JOB, index, &mut outcome);
    stop_job_allocs(inner, (namespace, id), &[], NOT_NEEDED, index, &mut outcome);
    inner.refresh_job_status(namespace, id);
    Some(outcome)
}

/// Stops every allocation of the job meant to run, except those of the groups in `keep`.
fn stop_job_allocs(
    inner: &mut Inner,
    (namespace, job_id): (&str, &str),
    keep: &[String],
    description: &str,
    index: u64,
    outcome: &mut Outcome,
) {
    for alloc in inner.allocs.values_mut() {
        if alloc.job_id == job_id
            && alloc.namespace == namespace
            && alloc.desired_status == "run"
            && !keep.contains(&alloc.task_group)
        {
            mark_stop(alloc, description, index);
            outcome.stop.push(alloc.id.clone());
        }
    }
    inner.allocs_index = index;
}

/// A server-side stop of one allocation (`DesiredStatus` stop with its reason).
pub(crate) fn mark_stop(alloc: &mut Alloc, description: &str, index: u64) {
    alloc.desired_status = "stop".into();
    alloc.desired_description = description.into();
    alloc.modify_index = index;
    alloc.alloc_modify_index = index;
    alloc.modify_time = now_nanos();
}

pub(crate) fn ready_nodes(inner: &Inner) -> Vec<usize> {
    (0..inner.nodes.len())
        .filter(|i| inner.nodes[*i].status == "ready")
        .collect()
}

/// Places every group's allocations, except those of the groups in `skip`.
fn place_job(
    inner: &mut Inner,
    job: &Arc<Job>,
    skip: &[String],
    eval_id: &str,
    index: u64,
    out: &mut Outcome,
) {
    let ready = ready_nodes(inner);
    if ready.is_empty() {
        return;
    }
    for group in job.task_groups.iter().filter(|g| !skip.contains(&g.name)) {
        for i in 0..group.count().max(0) as u32 {
            let node = ready[i as usize % ready.len()];
            let alloc = new_alloc(inner, job, &group.name, i, node, eval_id, index, "");
            out.start.push(alloc.id.clone());
            inner.allocs.insert(alloc.id.clone(), alloc);
        }
    }
    inner.allocs_index = index;
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn new_alloc(
    inner: &Inner,
    job: &Arc<Job>,
    group: &str,
    index_in_group: u32,
    node: usize,
    eval_id: &str,
    index: u64,
    previous: &str,
) -> Alloc {
    let node = &inner.nodes[node];
    let now = now_nanos();
    let ports = job
        .group(group)
        .map(|g| allocate_ports(inner, &g.ports()))
        .unwrap_or_default();
    Alloc {
        id: uuid(),
        eval_id: eval_id.into(),
        name: format!("{}.{}[{}]", job.id, group, index_in_group),
        index: index_in_group,
        namespace: job.namespace.clone(),
        node_id: node.id.clone(),
        node_name: node.name.clone(),
        job_id: job.id.clone(),
        job: job.clone(),
        task_group: group.into(),
        desired_status: "run".into(),
        desired_description: String::new(),
        migrate: false,
        client_status: "pending".into(),
        client_description: String::new(),
        task_states: BTreeMap::new(),
        previous_allocation: previous.into(),
        next_allocation: String::new(),
        ports,
        deployment_id: String::new(),
        deployment_status: None,
        signing_key_id: uuid(),
        create_index: index,
        modify_index: index,
        alloc_modify_index: index,
        create_time: now,
        modify_time: now,
    }
}

/// Static ports as given; dynamic ones from Nomad's default range 20000-32000, skipping ports
/// held by live allocs and ports something on this machine already listens on.
fn allocate_ports(inner: &Inner, wanted: &[(crate::model::job::Port, bool)]) -> Vec<PortMapping> {
    let used: Vec<u16> = inner
        .allocs
        .values()
        .filter(|a| !a.terminal())
        .flat_map(|a| a.ports.iter().map(|p| p.value))
        .collect();
    let mut taken = used;
    let mut out = Vec::new();
    for (port, dynamic) in wanted {
        let value = if *dynamic {
            let mut chosen = 0u16;
            for _ in 0..1000 {
                let candidate = 20_000 + random_below(12_000) as u16;
                if !taken.contains(&candidate)
                    && TcpListener::bind(("127.0.0.1", candidate)).is_ok()
                {
                    chosen = candidate;
                    break;
                }
            }
            chosen
        } else {
            u16::try_from(port.value).unwrap_or(0)
        };
        taken.push(value);
        out.push(PortMapping {
            label: port.label.clone(),
            value,
            to: port.to,
            host_ip: "127.0.0.1".into(),
        });
    }
    out
}

/// Places a replacement for `old` (same name and index) on the least-loaded ready node.
fn replace(inner: &mut Inner, old_id: &str, eval_id: &str, index: u64, out: &mut Outcome) {
    let Some(old) = inner.allocs.get(old_id).cloned() else {
        return;
    };
    let Some(job) = inner
        .jobs
        .get(&(old.namespace.clone(), old.job_id.clone()))
        .cloned()
    else {
        return;
    };
    if job.stop {
        return;
    }
    let load = |node: usize| {
        let id = &inner.nodes[node].id;
        inner
            .allocs
            .values()
            .filter(|a| &a.node_id == id && a.job_id == old.job_id && !a.terminal())
            .count()
    };
    let Some(node) = ready_nodes(inner)
        .into_iter()
        .min_by_key(|n| (load(*n), inner.nodes[*n].id == old.node_id, *n))
    else {
        return;
    };
    let mut alloc = new_alloc(
        inner,
        &job,
        &old.task_group,
        old.index,
        node,
        eval_id,
        index,
        old_id,
    );
    deploy::inherit(inner, &old, &mut alloc);
    if let Some(prev) = inner.allocs.get_mut(old_id) {
        prev.next_allocation = alloc.id.clone();
    }
    out.start.push(alloc.id.clone());
    inner.allocs.insert(alloc.id.clone(), alloc);
}

/// `Allocation.Stop`: the alloc is migrated (stopped, and replaced elsewhere).
pub fn stop_alloc(inner: &mut Inner, alloc_id: &str) -> Option<Outcome> {
    let alloc = inner.allocs.get(alloc_id)?;
    let (ns, job) = (alloc.namespace.clone(), alloc.job_id.clone());
    let index = inner.next_index();
    let mut out = Outcome {
        eval_id: uuid(),
        index,
        ..Outcome::default()
    };
    if let Some(alloc) = inner.allocs.get_mut(alloc_id)
        && alloc.desired_status == "run"
    {
        alloc.migrate = true;
        alloc.desired_status = "stop".into();
        alloc.desired_description = MIGRATING.into();
        alloc.modify_index = index;
        alloc.alloc_modify_index = index;
        alloc.modify_time = now_nanos();
        out.stop.push(alloc_id.to_string());
        let eval = out.eval_id.clone();
        replace(inner, alloc_id, &eval, index, &mut out);
    }
    inner.allocs_index = index;
    inner.refresh_job_status(&ns, &job);
    Some(out)
}

/// A node misses its heartbeats: it goes `down`, its live allocs become `lost` and are
/// replaced on the remaining ready nodes.
pub fn node_down(inner: &mut Inner, node: usize) -> Outcome {
    let index = inner.next_index();
    let mut out = Outcome {
        eval_id: uuid(),
        index,
        ..Outcome::default()
    };
    set_node_status(inner, node, "down", "Node heartbeat missed", index);
    let node_id = inner.nodes[node].id.clone();
    let lost: Vec<String> = inner
        .allocs
        .values()
        .filter(|a| a.node_id == node_id && !a.terminal())
        .map(|a| a.id.clone())
        .collect();
    for id in &lost {
        if let Some(alloc) = inner.allocs.get_mut(id) {
            alloc.desired_status = "stop".into();
            alloc.desired_description = LOST.into();
            alloc.client_status = "lost".into();
            alloc.client_description = String::new();
            alloc.modify_index = index;
            alloc.alloc_modify_index = index;
            alloc.modify_time = now_nanos();
        }
        out.stop.push(id.clone());
        let eval = out.eval_id.clone();
        replace(inner, id, &eval, index, &mut out);
    }
    inner.allocs_index = index;
    let jobs: Vec<(String, String)> = inner.jobs.keys().cloned().collect();
    for (ns, job) in jobs {
        inner.refresh_job_status(&ns, &job);
    }
    out
}

/// The node heartbeats again: `ready`. Its lost allocs stay lost.
pub fn node_up(inner: &mut Inner, node: usize) {
    let index = inner.next_index();
    set_node_status(
        inner,
        node,
        "ready",
        "Node reregistered by heartbeat",
        index,
    );
}

fn set_node_status(inner: &mut Inner, node: usize, status: &str, message: &str, index: u64) {
    let n = &mut inner.nodes[node];
    n.status = status.into();
    n.status_updated_at = now_nanos() / 1_000_000_000;
    n.modify_index = index;
    n.events.push(NodeEvent {
        message: message.into(),
        subsystem: "Cluster".into(),
        timestamp: now_nanos(),
        create_index: index,
    });
    inner.nodes_index = index;
}
