//! Read endpoints with blocking queries. The index each returns follows the real server:
//! a single object's `ModifyIndex` (or its table's index when not found), a list's table
//! index, and for a node's allocations the highest alloc `ModifyIndex` (the allocs table index
//! when the node has none).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::PortCtx;
use super::query::{QueryOpts, blocking};
use super::reply::Reply;
use crate::state::Inner;

type Params = Query<HashMap<String, String>>;

fn opts(params: HashMap<String, String>) -> Result<QueryOpts, Reply> {
    QueryOpts::parse(params)
}

fn ns_matches(opts: &QueryOpts, namespace: &str) -> bool {
    opts.namespace() == "*" || opts.namespace() == namespace
}

pub async fn jobs(State(ctx): State<PortCtx>, Query(p): Params) -> Response {
    let opts = match opts(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let prefix = opts.get("prefix").unwrap_or("").to_string();
    blocking(&ctx.sim, &opts, |s: &Inner| {
        let list: Vec<Value> = s
            .jobs
            .values()
            .filter(|j| ns_matches(&opts, &j.namespace) && j.id.starts_with(&prefix))
            .map(|j| job_stub(s, j))
            .collect();
        (s.jobs_index, Ok(Value::Array(list)))
    })
    .await
}

/// `JobListStub` with its `JobSummary`.
fn job_stub(s: &Inner, job: &crate::model::job::Job) -> Value {
    let mut summary = serde_json::Map::new();
    for group in &job.task_groups {
        let (mut starting, mut running, mut complete, mut failed, mut lost) = (0, 0, 0, 0, 0);
        for a in s
            .allocs
            .values()
            .filter(|a| a.job_id == job.id && a.namespace == job.namespace)
            .filter(|a| a.task_group == group.name)
        {
            match a.client_status.as_str() {
                "pending" => starting += 1,
                "running" => running += 1,
                "complete" => complete += 1,
                "failed" => failed += 1,
                "lost" => lost += 1,
                _ => {}
            }
        }
        summary.insert(
            group.name.clone(),
            json!({"Complete": complete, "Failed": failed, "Lost": lost, "Queued": 0,
                   "Running": running, "Starting": starting, "Unknown": 0}),
        );
    }
    json!({
        "CreateIndex": job.create_index,
        "Datacenters": job.datacenters,
        "ID": job.id,
        "JobModifyIndex": job.job_modify_index,
        "JobSummary": {
            "Children": {"Dead": 0, "Pending": 0, "Running": 0},
            "CreateIndex": job.create_index,
            "JobID": job.id,
            "ModifyIndex": job.modify_index,
            "Namespace": job.namespace,
            "Summary": summary,
        },
        "Meta": job.meta,
        "ModifyIndex": job.modify_index,
        "Multiregion": null,
        "Name": job.name,
        "Namespace": job.namespace,
        "NodePool": job.node_pool,
        "ParameterizedJob": false,
        "ParentID": job.parent_id,
        "Periodic": false,
        "Priority": job.priority,
        "Status": job.status,
        "StatusDescription": job.status_description,
        "Stop": job.stop,
        "SubmitTime": job.submit_time,
        "Type": job.job_type,
    })
}

pub async fn job(State(ctx): State<PortCtx>, Path(id): Path<String>, Query(p): Params) -> Response {
    let opts = match opts(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let ns = opts.namespace().to_string();
    blocking(&ctx.sim, &opts, |s: &Inner| {
        match s.jobs.get(&(ns.clone(), id.clone())) {
            Some(j) => (j.modify_index, Ok(j.to_json())),
            None => (s.jobs_index, Err(Reply::error(404, "job not found"))),
        }
    })
    .await
}

pub async fn job_allocs(
    State(ctx): State<PortCtx>,
    Path(id): Path<String>,
    Query(p): Params,
) -> Response {
    let opts = match opts(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let ns = opts.namespace().to_string();
    blocking(&ctx.sim, &opts, |s: &Inner| {
        let list: Vec<Value> = s
            .allocs
            .values()
            .filter(|a| a.job_id == id && a.namespace == ns)
            .map(|a| a.to_stub_json())
            .collect();
        (s.allocs_index, Ok(Value::Array(list)))
    })
    .await
}

pub async fn allocs(State(ctx): State<PortCtx>, Query(p): Params) -> Response {
    let opts = match opts(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let prefix = opts.get("prefix").unwrap_or("").to_string();
    blocking(&ctx.sim, &opts, |s: &Inner| {
        let list: Vec<Value> = s
            .allocs
            .values()
            .filter(|a| ns_matches(&opts, &a.namespace) && a.id.starts_with(&prefix))
            .map(|a| a.to_stub_json())
            .collect();
        (s.allocs_index, Ok(Value::Array(list)))
    })
    .await
}

pub async fn alloc(
    State(ctx): State<PortCtx>,
    Path(id): Path<String>,
    Query(p): Params,
) -> Response {
    let opts = match opts(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let dc = ctx.sim.config.datacenter.clone();
    blocking(&ctx.sim, &opts, |s: &Inner| match s.allocs.get(&id) {
        Some(a) => (a.modify_index, Ok(a.to_full_json(s.nodes.len(), &dc))),
        None => (s.allocs_index, Err(Reply::error(404, "alloc not found"))),
    })
    .await
}

pub async fn node_allocs(
    State(ctx): State<PortCtx>,
    Path(id): Path<String>,
    Query(p): Params,
) -> Response {
    let opts = match opts(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let dc = ctx.sim.config.datacenter.clone();
    blocking(&ctx.sim, &opts, |s: &Inner| {
        let mine: Vec<_> = s.allocs.values().filter(|a| a.node_id == id).collect();
        let index = mine
            .iter()
            .map(|a| a.modify_index)
            .max()
            .unwrap_or(s.allocs_index);
        let list = mine
            .iter()
            .map(|a| a.to_full_json(s.nodes.len(), &dc))
            .collect();
        (index, Ok(Value::Array(list)))
    })
    .await
}

pub async fn nodes(State(ctx): State<PortCtx>, Query(p): Params) -> Response {
    let opts = match opts(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let with_os = opts.flag("os");
    blocking(&ctx.sim, &opts, |s: &Inner| {
        let list = s.nodes.iter().map(|n| n.to_stub_json(with_os)).collect();
        (s.nodes_index, Ok(Value::Array(list)))
    })
    .await
}

pub async fn node(
    State(ctx): State<PortCtx>,
    Path(id): Path<String>,
    Query(p): Params,
) -> Response {
    let opts = match opts(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    blocking(&ctx.sim, &opts, |s: &Inner| match s.node_by_id(&id) {
        Some(n) => (n.modify_index, Ok(n.to_full_json())),
        None => (s.nodes_index, Err(Reply::error(404, "node not found"))),
    })
    .await
}

/// `/v1/agent/self` of the node whose port received the request (not a blocking endpoint).
pub async fn agent_self(State(ctx): State<PortCtx>, Query(p): Params) -> Response {
    let opts = match opts(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let consul = ctx.sim.config.consul_addr.clone();
    let value = ctx.sim.store.read(|s| {
        let node = &s.nodes[ctx.node];
        let live = s
            .allocs
            .values()
            .filter(|a| a.node_id == node.id && !a.client_terminal())
            .count();
        node.agent_self(&consul, live)
    });
    Reply::json(&value, opts.pretty).into_response()
}
