//! The cluster-wide listings garbage collection reads: every job (`GET /v1/jobs`) and every
//! allocation (`GET /v1/allocations`) of the region, in every namespace (`?namespace=*`), as
//! blocking reads.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{Namespace, NomadClient};
use super::error::NomadError;
use super::models::AllocationListStub;
use crate::blocking::{BlockingParams, Indexed};

/// The `op` labels of these endpoints in `shepard_api_requests_total{api="nomad"}`.
pub mod op {
    pub const JOBS: &str = "jobs";
    pub const ALLOCATIONS: &str = "allocations";
}

/// Every namespace, as `?namespace=` takes it.
const ALL_NAMESPACES: &str = "*";

/// `JobListStub`, reduced to what GC reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct JobListStub {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub namespace: String,
    /// Set by `nomad job stop` (the job stays listed until purged or garbage-collected).
    pub stop: bool,
    /// `pending`, `running` or `dead`.
    pub status: String,
    pub modify_index: u64,
}

impl NomadClient {
    /// `GET /v1/jobs?namespace=*`: every job of the region.
    pub async fn jobs_all_namespaces(
        &self,
        params: BlockingParams,
    ) -> Result<Indexed<Vec<JobListStub>>, NomadError> {
        let req = self.request(Method::GET, "/v1/jobs", Namespace::Of(Some(ALL_NAMESPACES)));
        self.get_blocking(op::JOBS, req, params).await
    }

    /// `GET /v1/allocations?namespace=*`: every allocation of the region, terminal ones
    /// included until Nomad garbage-collects them.
    pub async fn allocations_all_namespaces(
        &self,
        params: BlockingParams,
    ) -> Result<Indexed<Vec<AllocationListStub>>, NomadError> {
        let req = self.request(
            Method::GET,
            "/v1/allocations",
            Namespace::Of(Some(ALL_NAMESPACES)),
        );
        self.get_blocking(op::ALLOCATIONS, req, params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_list_stub_decodes_with_unknown_fields_ignored() {
        let body = r#"[{"ID":"web","Name":"web","Namespace":"default","Stop":true,
            "Status":"dead","ModifyIndex":42,"JobSummary":{"Summary":{}},"Type":"service"}]"#;
        let jobs: Vec<JobListStub> = serde_json::from_str(body).unwrap();
        assert_eq!(jobs[0].id, "web");
        assert!(jobs[0].stop);
        assert_eq!(jobs[0].status, "dead");
        assert_eq!(jobs[0].modify_index, 42);
    }
}
