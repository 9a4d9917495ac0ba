//! Write endpoints: job register (`PUT|POST /v1/jobs`, `/v1/job/:id`), job deregister
//! (`DELETE /v1/job/:id[?purge=true]`), alloc stop and the client's alloc restart. Request
//! errors are Nomad's 400s; validation failures its 500 multierror text.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::PortCtx;
use super::reply::Reply;
use crate::model::canonical::{canonicalize, validate};
use crate::model::job::Job;
use crate::scheduler;

type Params = Query<HashMap<String, String>>;

pub async fn register(State(ctx): State<PortCtx>, body: Bytes) -> Response {
    register_impl(&ctx, None, &body).into_response()
}

pub async fn register_id(
    State(ctx): State<PortCtx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    register_impl(&ctx, Some(&id), &body).into_response()
}

fn register_impl(ctx: &PortCtx, url_id: Option<&str>, body: &[u8]) -> Reply {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Reply::error(400, e.to_string()),
    };
    let Some(raw) = request.get("Job").filter(|j| !j.is_null()) else {
        return Reply::error(400, "Job must be specified");
    };
    let Some(id) = raw.get("ID").and_then(Value::as_str) else {
        return Reply::error(400, "Job ID hasn't been provided");
    };
    if url_id.is_some_and(|u| u != id) {
        return Reply::error(400, "Job ID does not match name");
    }
    let mut job: Job = match serde_json::from_value(raw.clone()) {
        Ok(j) => j,
        Err(e) => return Reply::error(400, e.to_string()),
    };
    canonicalize(&mut job, &ctx.sim.config.region);
    if let Err(text) = validate(&job) {
        return Reply::error(500, text);
    }
    let outcome = ctx.sim.store.write(|s| scheduler::register_job(s, job));
    let reply = json!({
        "EvalCreateIndex": outcome.index,
        "EvalID": outcome.eval_id,
        "Index": outcome.index,
        "JobModifyIndex": outcome.job_modify_index,
        "KnownLeader": false,
        "LastContact": 0,
        "NextToken": "",
        "Warnings": "",
    });
    let index = outcome.index;
    ctx.sim.dispatch(outcome);
    Reply::json(&reply, false).with_index(index)
}

pub async fn deregister(
    State(ctx): State<PortCtx>,
    Path(id): Path<String>,
    Query(p): Params,
) -> Response {
    let purge = p.get("purge").is_some_and(|v| v == "true" || v == "1");
    let ns = p
        .get("namespace")
        .filter(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| "default".into());
    let outcome = ctx
        .sim
        .store
        .write(|s| scheduler::deregister_job(s, &ns, &id, purge));
    let Some(outcome) = outcome else {
        return Reply::error(404, "job not found").into_response();
    };
    let reply = json!({
        "EvalCreateIndex": outcome.index,
        "EvalID": outcome.eval_id,
        "Index": outcome.index,
        "JobModifyIndex": outcome.job_modify_index,
        "KnownLeader": false,
        "LastContact": 0,
        "NextToken": "",
        "VolumeEvalID": "",
        "VolumeEvalIndex": 0,
    });
    let index = outcome.index;
    ctx.sim.dispatch(outcome);
    Reply::json(&reply, false).with_index(index).into_response()
}

pub async fn alloc_stop(State(ctx): State<PortCtx>, Path(id): Path<String>) -> Response {
    let outcome = ctx.sim.store.write(|s| scheduler::stop_alloc(s, &id));
    let Some(outcome) = outcome else {
        return Reply::error(404, format!("Unknown allocation {id:?}")).into_response();
    };
    let reply = json!({"EvalID": outcome.eval_id, "Index": outcome.index});
    let index = outcome.index;
    ctx.sim.dispatch(outcome);
    Reply::json(&reply, false).with_index(index).into_response()
}

/// `POST /v1/client/allocation/:id/restart` with `{"TaskName": ..}` or `{"AllTasks": true}`.
/// Answers once the task has exited (the new run starts afterwards), with `{"Index":0}`.
pub async fn alloc_restart(
    State(ctx): State<PortCtx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return Reply::error(500, e.to_string()).into_response(),
        }
    };
    let task = request
        .get("TaskName")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let all = request
        .get("AllTasks")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match ctx.sim.restart_alloc(&id, task, all).await {
        Ok(()) => Reply::json(&json!({"Index": 0}), false).into_response(),
        Err((code, message)) => Reply::error(code, message).into_response(),
    }
}
