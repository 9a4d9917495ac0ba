//! The HTTP API: one router per node port (the port decides what `/v1/agent/self` answers
//! and which node's faults apply), each serving the whole cluster API plus `/sim/`.

pub mod deployment;
pub mod fs;
pub mod query;
pub mod read;
pub mod reply;
pub mod sim_routes;
pub mod write;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::sim::Sim;
use reply::Reply;

/// Handler state: the cluster and the index of the node whose port was hit.
#[derive(Clone)]
pub struct PortCtx {
    pub sim: Arc<Sim>,
    pub node: usize,
}

pub fn router(ctx: PortCtx) -> Router {
    Router::new()
        .route(
            "/v1/jobs",
            get(read::jobs).put(write::register).post(write::register),
        )
        .route(
            "/v1/job/{id}",
            get(read::job)
                .put(write::register_id)
                .post(write::register_id)
                .delete(write::deregister),
        )
        .route("/v1/job/{id}/allocations", get(read::job_allocs))
        .route("/v1/job/{id}/deployment", get(deployment::job_latest))
        .route("/v1/deployment/{id}", get(deployment::get))
        .route(
            "/v1/deployment/promote/{id}",
            post(deployment::promote).put(deployment::promote),
        )
        .route("/v1/allocations", get(read::allocs))
        .route("/v1/allocation/{id}", get(read::alloc))
        .route(
            "/v1/allocation/{id}/stop",
            post(write::alloc_stop).put(write::alloc_stop),
        )
        .route(
            "/v1/client/allocation/{id}/restart",
            post(write::alloc_restart).put(write::alloc_restart),
        )
        .route("/v1/client/fs/stat/{id}", get(fs::stat))
        .route("/v1/nodes", get(read::nodes))
        .route("/v1/node/{id}", get(read::node))
        .route("/v1/node/{id}/allocations", get(read::node_allocs))
        .route("/v1/agent/self", get(read::agent_self))
        .merge(sim_routes::router())
        .method_not_allowed_fallback(|| async { Reply::error(405, "Invalid method") })
        .fallback(|| async { Reply::error(404, "") })
        .layer(middleware::from_fn_with_state(ctx.clone(), fault_layer))
        .with_state(ctx)
}

/// Applies the node's fault switches (latency, forced status) to Nomad API requests.
async fn fault_layer(State(ctx): State<PortCtx>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/sim/") {
        return next.run(request).await;
    }
    let fault = ctx.sim.fault(ctx.node);
    if let Some(ms) = fault.latency_ms {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(status) = fault.status {
        return Reply::error(status, "simulated fault").into_response();
    }
    next.run(request).await
}
