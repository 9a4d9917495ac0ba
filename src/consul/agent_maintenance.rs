//! Service maintenance mode on the local agent (`PUT /v1/agent/service/maintenance/:id`):
//! while enabled, Consul adds a critical `_service_maintenance:<id>` check, so the instance
//! drops out of healthy service lists (used around a deliberate restart).

use reqwest::Method;

use crate::consul::client::{Call, ConsulClient, segment};
use crate::consul::error::ConsulError;

impl ConsulClient {
    /// Puts the agent's service `service_id` into maintenance (`enable = true`, with an
    /// optional reason shown in the check's notes) or takes it out again.
    pub async fn agent_service_maintenance(
        &self,
        service_id: &str,
        enable: bool,
        reason: Option<&str>,
    ) -> Result<(), ConsulError> {
        let path = format!("/v1/agent/service/maintenance/{}", segment(service_id));
        let mut call = Call::new("agent_service_maintenance", Method::PUT, path)
            .query("enable", enable.to_string());
        if let Some(reason) = reason {
            call = call.query("reason", reason);
        }
        self.send_ok(call).await.map(drop)
    }
}
