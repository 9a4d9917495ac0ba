//! Deployment endpoints (command/agent/deployment_endpoint.go, job_endpoint.go):
//! `GET /v1/job/:id/deployment` (the job's latest deployment by `CreateIndex`, `null` without
//! one; index of the deployments table), `GET /v1/deployment/:id` (index the deployment's
//! `ModifyIndex`; 404 `deployment not found`), and `PUT|POST /v1/deployment/promote/:id` with
//! Nomad's `DeploymentPromoteRequest` body (`DeploymentID`, `All`, `Groups`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::PortCtx;
use super::query::{QueryOpts, blocking};
use super::reply::Reply;
use crate::deploy;
use crate::state::Inner;

type Params = Query<HashMap<String, String>>;

pub async fn job_latest(
    State(ctx): State<PortCtx>,
    Path(job_id): Path<String>,
    Query(p): Params,
) -> Response {
    let opts = match QueryOpts::parse(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let ns = opts.namespace().to_string();
    blocking(&ctx.sim, &opts, |s: &Inner| {
        let latest = s
            .deployments
            .values()
            .filter(|d| d.namespace == ns && d.job_id == job_id)
            .max_by_key(|d| d.create_index)
            .map_or(Value::Null, |d| d.to_json());
        (s.deployments_index, Ok(latest))
    })
    .await
}

pub async fn get(State(ctx): State<PortCtx>, Path(id): Path<String>, Query(p): Params) -> Response {
    let opts = match QueryOpts::parse(p) {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    blocking(&ctx.sim, &opts, |s: &Inner| match s.deployments.get(&id) {
        Some(d) => (d.modify_index, Ok(d.to_json())),
        None => (
            s.deployments_index,
            Err(Reply::error(404, "deployment not found")),
        ),
    })
    .await
}

/// `structs.DeploymentPromoteRequest` as the HTTP agent decodes it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PromoteRequest {
    #[serde(rename = "DeploymentID")]
    deployment_id: String,
    all: bool,
    groups: Option<Vec<String>>,
}

pub async fn promote(State(ctx): State<PortCtx>, Path(id): Path<String>, body: Bytes) -> Response {
    let request: PromoteRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return Reply::error(400, e.to_string()).into_response(),
    };
    if request.deployment_id.is_empty() {
        return Reply::error(400, "DeploymentID must be specified").into_response();
    }
    if request.deployment_id != id {
        return Reply::error(400, "Deployment ID does not match").into_response();
    }
    let groups = request.groups.unwrap_or_default();
    let result = ctx
        .sim
        .store
        .write(|s| deploy::promote(s, &id, request.all, &groups));
    match result {
        Ok(outcome) => {
            let reply = json!({
                "DeploymentModifyIndex": outcome.index,
                "EvalCreateIndex": outcome.index,
                "EvalID": outcome.eval_id,
                "Index": outcome.index,
                "RevertedJobVersion": null,
            });
            let index = outcome.index;
            ctx.sim.dispatch(outcome);
            Reply::json(&reply, false).with_index(index).into_response()
        }
        Err((code, message)) => Reply::error(code, message).into_response(),
    }
}
