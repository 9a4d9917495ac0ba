//! Health checks as Consul reports them: every check on a node (`/v1/health/node/:node`) and
//! every check of a service (`/v1/health/checks/:service`), both blockable.

use reqwest::Method;
use serde::Deserialize;

use crate::blocking::{BlockingParams, Indexed};
use crate::consul::client::{Call, ConsulClient, segment};
use crate::consul::error::ConsulError;

/// The status of a health check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Passing,
    Warning,
    Critical,
    /// Any status this client does not know (treated as not passing).
    #[serde(other)]
    Unknown,
}

/// One health check entry (`structs.HealthCheck`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheck {
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    #[serde(default)]
    pub name: String,
    pub status: CheckStatus,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub output: String,
    /// Empty for node-level checks such as `serfHealth`.
    #[serde(rename = "ServiceID", default)]
    pub service_id: String,
    #[serde(default)]
    pub service_name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub service_tags: Vec<String>,
    #[serde(rename = "Type", default)]
    pub check_type: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

impl HealthCheck {
    pub fn is_passing(&self) -> bool {
        self.status == CheckStatus::Passing
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl ConsulClient {
    /// Every check registered on `node` (node checks and the checks of its services).
    pub async fn health_node(
        &self,
        node: &str,
        params: BlockingParams,
    ) -> Result<Indexed<Vec<HealthCheck>>, ConsulError> {
        let path = format!("/v1/health/node/{}", segment(node));
        self.health_read(Call::new("health_node", Method::GET, path), params)
            .await
    }

    /// Every check of every instance of `service`, on all nodes.
    pub async fn health_service_checks(
        &self,
        service: &str,
        params: BlockingParams,
    ) -> Result<Indexed<Vec<HealthCheck>>, ConsulError> {
        let path = format!("/v1/health/checks/{}", segment(service));
        self.health_read(Call::new("health_checks", Method::GET, path), params)
            .await
    }

    async fn health_read(
        &self,
        call: Call<'_>,
        params: BlockingParams,
    ) -> Result<Indexed<Vec<HealthCheck>>, ConsulError> {
        let reply = self.send_ok(call.blocking(params)).await?;
        let index = reply.require_index()?;
        // Read endpoints answer `[]` (or `null`) rather than 403 when ACLs hide everything.
        let value: Option<Vec<HealthCheck>> = reply.json()?;
        Ok(Indexed {
            index,
            value: value.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_checks_of_1_8_7_decode() {
        let body = r#"[{"Node":"vm","CheckID":"serfHealth","Name":"Serf Health Status",
            "Status":"passing","Notes":"","Output":"Agent alive and reachable","ServiceID":"",
            "ServiceName":"","ServiceTags":[],"Type":"","Definition":{},"CreateIndex":11,
            "ModifyIndex":11},{"Node":"vm","CheckID":"web-2-ttl","Name":"web-2 heartbeat",
            "Status":"critical","ServiceID":"web-2","ServiceName":"web","ServiceTags":null,
            "Type":"ttl","CreateIndex":57,"ModifyIndex":57},{"Node":"vm","CheckID":"m",
            "Status":"maintenance"}]"#;
        let checks: Vec<HealthCheck> = serde_json::from_str(body).unwrap();
        assert!(checks[0].is_passing());
        assert_eq!(checks[1].status, CheckStatus::Critical);
        assert_eq!(checks[1].service_id, "web-2");
        assert!(checks[1].service_tags.is_empty());
        assert_eq!(checks[2].status, CheckStatus::Unknown);
    }
}
