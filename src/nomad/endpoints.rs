//! The Nomad API calls shepard makes, one method per endpoint, each recorded under its own
//! `op` label. Reads that support blocking queries take [`BlockingParams`] and return
//! [`Indexed`], which is the shape the blocking-query watch drives:
//! `move |p| { let c = client.clone(); async move { c.nodes(p).await } }`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;

use super::client::{Namespace, NomadClient};
use super::error::NomadError;
use super::models::{
    AgentSelf, AllocFileInfo, AllocRestartRequest, AllocStopResponse, Allocation,
    AllocationListStub, Job, Node, NodeListStub,
};
use crate::blocking::{BlockingParams, Indexed};

/// The `op` label of each endpoint in `shepard_api_requests_total{api="nomad"}`.
pub mod op {
    pub const AGENT_SELF: &str = "agent_self";
    pub const NODE_ALLOCATIONS: &str = "node_allocations";
    pub const ALLOCATION: &str = "allocation";
    pub const JOB: &str = "job";
    pub const JOB_ALLOCATIONS: &str = "job_allocations";
    pub const NODES: &str = "nodes";
    pub const NODE: &str = "node";
    pub const ALLOC_RESTART: &str = "alloc_restart";
    pub const ALLOC_STOP: &str = "alloc_stop";
    pub const FS_STAT: &str = "fs_stat";
}

/// Bytes escaped in a path segment: all but the URL-safe unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment taken from an ID or name (job IDs may contain `/` and spaces).
fn seg(s: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(s, SEGMENT)
}

impl NomadClient {
    /// `GET /v1/agent/self` of the agent at the client's address (not blocking).
    pub async fn agent_self(&self) -> Result<AgentSelf, NomadError> {
        let req = self.request(Method::GET, "/v1/agent/self", Namespace::Default);
        self.get_json(op::AGENT_SELF, req).await
    }

    /// `GET /v1/node/:node_id/allocations`: every allocation on the node, with its job.
    /// The index is the highest `ModifyIndex` among them.
    pub async fn node_allocations(
        &self,
        node_id: &str,
        params: BlockingParams,
    ) -> Result<Indexed<Vec<Allocation>>, NomadError> {
        let path = format!("/v1/node/{}/allocations", seg(node_id));
        let req = self.request(Method::GET, &path, Namespace::Default);
        self.get_blocking(op::NODE_ALLOCATIONS, req, params).await
    }

    /// `GET /v1/allocation/:alloc_id`. A missing allocation is
    /// [`NomadError::NotFound`] with message `alloc not found`.
    pub async fn allocation(
        &self,
        alloc_id: &str,
        params: BlockingParams,
    ) -> Result<Indexed<Allocation>, NomadError> {
        let path = format!("/v1/allocation/{}", seg(alloc_id));
        let req = self.request(Method::GET, &path, Namespace::Default);
        self.get_blocking(op::ALLOCATION, req, params).await
    }

    /// `GET /v1/job/:job_id` in `namespace` (`None`: the client's namespace).
    pub async fn job(
        &self,
        namespace: Option<&str>,
        job_id: &str,
        params: BlockingParams,
    ) -> Result<Indexed<Job>, NomadError> {
        let path = format!("/v1/job/{}", seg(job_id));
        let req = self.request(Method::GET, &path, Namespace::Of(namespace));
        self.get_blocking(op::JOB, req, params).await
    }

    /// `GET /v1/job/:job_id/allocations` in `namespace`: list stubs of the job's allocations.
    pub async fn job_allocations(
        &self,
        namespace: Option<&str>,
        job_id: &str,
        params: BlockingParams,
    ) -> Result<Indexed<Vec<AllocationListStub>>, NomadError> {
        let path = format!("/v1/job/{}/allocations", seg(job_id));
        let req = self.request(Method::GET, &path, Namespace::Of(namespace));
        self.get_blocking(op::JOB_ALLOCATIONS, req, params).await
    }

    /// `GET /v1/nodes`: every client node of the region.
    pub async fn nodes(
        &self,
        params: BlockingParams,
    ) -> Result<Indexed<Vec<NodeListStub>>, NomadError> {
        let req = self.request(Method::GET, "/v1/nodes", Namespace::Default);
        self.get_blocking(op::NODES, req, params).await
    }

    /// `GET /v1/node/:node_id`: the node's effective name and `StatusUpdatedAt`.
    pub async fn node(
        &self,
        node_id: &str,
        params: BlockingParams,
    ) -> Result<Indexed<Node>, NomadError> {
        let path = format!("/v1/node/{}", seg(node_id));
        let req = self.request(Method::GET, &path, Namespace::Default);
        self.get_blocking(op::NODE, req, params).await
    }

    /// `POST /v1/client/allocation/:alloc_id/restart` with `{"TaskName": task}`: restarts
    /// one task in place (needs `alloc-lifecycle`). The response body (`{}` or
    /// `{"Index":0}`) carries nothing and is not read.
    pub async fn restart_allocation_task(
        &self,
        alloc_id: &str,
        task: &str,
    ) -> Result<(), NomadError> {
        let path = format!("/v1/client/allocation/{}/restart", seg(alloc_id));
        let body = AllocRestartRequest {
            task_name: task.to_string(),
            all_tasks: false,
        };
        let req = self
            .request(Method::POST, &path, Namespace::Default)
            .json(&body);
        self.send(op::ALLOC_RESTART, req).await.map(|_| ())
    }

    /// `POST /v1/allocation/:alloc_id/stop`: stops the allocation; the scheduler replaces it.
    pub async fn stop_allocation(&self, alloc_id: &str) -> Result<AllocStopResponse, NomadError> {
        let path = format!("/v1/allocation/{}/stop", seg(alloc_id));
        let req = self.request(Method::POST, &path, Namespace::Default);
        self.get_json(op::ALLOC_STOP, req).await
    }

    /// `GET /v1/client/fs/stat/:alloc_id?path=`: a file in the allocation directory, `path`
    /// relative to it (e.g. `greet/local/config.yml`).
    pub async fn stat_file(&self, alloc_id: &str, path: &str) -> Result<AllocFileInfo, NomadError> {
        let url_path = format!("/v1/client/fs/stat/{}", seg(alloc_id));
        let req = self
            .request(Method::GET, &url_path, Namespace::Default)
            .query(&[("path", path)]);
        self.get_json(op::FS_STAT, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_escape_slashes_and_spaces() {
        assert_eq!(seg("web/api v2").to_string(), "web%2Fapi%20v2");
        assert_eq!(seg("a8198d79-cfdb.x_y~").to_string(), "a8198d79-cfdb.x_y~");
    }
}
