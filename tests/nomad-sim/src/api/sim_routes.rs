//! The simulator's own endpoints under `/sim/` (not part of Nomad's API): fault switches and
//! the evidence log. Shapes are documented in the crate README.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::PortCtx;
use super::reply::Reply;
use crate::scheduler;
use crate::sim::Fault;

pub fn router() -> Router<PortCtx> {
    Router::new()
        .route("/sim/events", get(events))
        .route("/sim/alloc/{id}/crash", post(crash))
        .route("/sim/node/{node}/down", post(node_down))
        .route("/sim/node/{node}/up", post(node_up))
        .route("/sim/node/{node}/fault", put(set_fault).delete(clear_fault))
        .route("/sim/node/{node}/clock", put(set_clock).get(get_clock))
}

/// `GET /sim/events[?since=SEQ]`: every event with a sequence number above `since`.
async fn events(State(ctx): State<PortCtx>, Query(p): Query<HashMap<String, String>>) -> Response {
    let since: u64 = p.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let list = ctx.sim.store.read(|s| {
        s.sim_events
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect::<Vec<_>>()
    });
    let value = serde_json::to_value(list).unwrap_or(Value::Null);
    Reply::json(&value, false).into_response()
}

/// `POST /sim/alloc/:id/crash` with optional `{"task": NAME}`: SIGKILLs the task's process
/// group (all running tasks when no task is named); the restart policy then acts.
async fn crash(State(ctx): State<PortCtx>, Path(id): Path<String>, body: Bytes) -> Response {
    let task = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("task").and_then(Value::as_str).map(str::to_string));
    match ctx.sim.crash_alloc(&id, task.as_deref()) {
        Ok(tasks) => Reply::json(&json!({"crashed": tasks}), false).into_response(),
        Err((code, message)) => Reply::error(code, message).into_response(),
    }
}

fn find_node(ctx: &PortCtx, key: &str) -> Option<usize> {
    ctx.sim.store.read(|s| {
        s.nodes
            .iter()
            .position(|n| n.name == key || n.id == key)
            .or_else(|| key.parse::<usize>().ok().filter(|i| *i < s.nodes.len()))
    })
}

/// `POST /sim/node/:node/down` (`:node` = name, ID or index): the node misses its
/// heartbeats; its allocs are lost and their processes killed; replacements are placed.
async fn node_down(State(ctx): State<PortCtx>, Path(node): Path<String>) -> Response {
    let Some(idx) = find_node(&ctx, &node) else {
        return Reply::error(404, "node not found").into_response();
    };
    let already_down = ctx.sim.store.read(|s| s.nodes[idx].status == "down");
    if !already_down {
        let outcome = ctx.sim.store.write(|s| scheduler::node_down(s, idx));
        ctx.sim.dispatch(outcome);
    }
    node_reply(&ctx, idx)
}

/// `POST /sim/node/:node/up`: the node is `ready` again (its lost allocs stay lost).
async fn node_up(State(ctx): State<PortCtx>, Path(node): Path<String>) -> Response {
    let Some(idx) = find_node(&ctx, &node) else {
        return Reply::error(404, "node not found").into_response();
    };
    let down = ctx.sim.store.read(|s| s.nodes[idx].status == "down");
    if down {
        ctx.sim.store.write(|s| scheduler::node_up(s, idx));
    }
    node_reply(&ctx, idx)
}

fn node_reply(ctx: &PortCtx, idx: usize) -> Response {
    let value = ctx.sim.store.read(|s| s.nodes[idx].to_stub_json(false));
    Reply::json(&value, false).into_response()
}

/// `PUT /sim/node/:node/fault` with `{"status": 500, "latency_ms": 250}` (either optional):
/// Nomad API requests arriving on that node's port are delayed and/or answered with that
/// status. `DELETE` clears it.
async fn set_fault(State(ctx): State<PortCtx>, Path(node): Path<String>, body: Bytes) -> Response {
    let Some(idx) = find_node(&ctx, &node) else {
        return Reply::error(404, "node not found").into_response();
    };
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return Reply::error(400, e.to_string()).into_response(),
    };
    ctx.sim.set_fault(idx, fault.clone());
    Reply::json(&serde_json::to_value(fault).unwrap_or(Value::Null), false).into_response()
}

/// `PUT /sim/node/:node/clock` with `{"offset_ms": 300000}`: from now on the node's client
/// stamps task events, task state times and rendered files that far ahead of true time
/// (negative: behind). A later `PUT` steps the clock. `GET` answers the offset.
async fn set_clock(State(ctx): State<PortCtx>, Path(node): Path<String>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Offset {
        offset_ms: i64,
    }
    let Some(id) = node_id(&ctx, &node) else {
        return Reply::error(404, "node not found").into_response();
    };
    let offset: Offset = match serde_json::from_slice(&body) {
        Ok(o) => o,
        Err(e) => return Reply::error(400, e.to_string()).into_response(),
    };
    ctx.sim
        .clock_of(&id)
        .set_offset_nanos(offset.offset_ms.saturating_mul(1_000_000));
    clock_reply(&ctx, &id)
}

async fn get_clock(State(ctx): State<PortCtx>, Path(node): Path<String>) -> Response {
    match node_id(&ctx, &node) {
        Some(id) => clock_reply(&ctx, &id),
        None => Reply::error(404, "node not found").into_response(),
    }
}

fn node_id(ctx: &PortCtx, node: &str) -> Option<String> {
    let idx = find_node(ctx, node)?;
    ctx.sim
        .store
        .read(|s| s.nodes.get(idx).map(|n| n.id.clone()))
}

fn clock_reply(ctx: &PortCtx, id: &str) -> Response {
    let offset_ms = ctx.sim.clock_of(id).offset_nanos() / 1_000_000;
    Reply::json(&json!({ "offset_ms": offset_ms }), false).into_response()
}

async fn clear_fault(State(ctx): State<PortCtx>, Path(node): Path<String>) -> Response {
    let Some(idx) = find_node(&ctx, &node) else {
        return Reply::error(404, "node not found").into_response();
    };
    ctx.sim.set_fault(idx, Fault::default());
    Reply::json(&json!({}), false).into_response()
}
