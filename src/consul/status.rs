//! The status endpoint: who the raft leader is (`/v1/status/leader`).

use reqwest::Method;

use crate::consul::client::{Call, ConsulClient};
use crate::consul::error::ConsulError;

impl ConsulClient {
    /// `GET /v1/status/leader`: the raft leader's address, empty while there is none. The
    /// readiness probe's "Consul reachable" check.
    pub async fn status_leader(&self) -> Result<String, ConsulError> {
        let reply = self
            .send_ok(Call::new(
                "status_leader",
                Method::GET,
                "/v1/status/leader".into(),
            ))
            .await?;
        reply.json()
    }
}
