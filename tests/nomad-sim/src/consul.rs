//! The simulator's own small Consul client (a real Nomad client has its own too): KV reads
//! with blocking queries for templates, agent service register/deregister for services, and
//! the agent's check statuses for deployment health.
//!
//! Consul behaviour relied on (1.8.7): a missing key is `404` with an `X-Consul-Index` (the
//! KV table's index), still usable for blocking; a blocking GET returns the same index when
//! nothing changed; an identical PUT does not wake watchers.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// The request could not be sent or the response not read.
    #[error("consul request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// Consul answered with an unexpected status.
    #[error("consul answered {status}: {body}")]
    Status { status: u16, body: String },
}

/// One KV read: the index to block on next, and the value (`None` when the key is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvRead {
    pub index: u64,
    pub value: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Consul {
    http: reqwest::Client,
    base: String,
}

/// Percent-escapes a KV key for the URL path, keeping `/`.
fn escape_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Consul {
    pub fn new(addr: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: addr.trim_end_matches('/').to_string(),
        }
    }

    /// `GET /v1/kv/<key>?raw[&index=&wait=]`.
    pub async fn kv_get(
        &self,
        key: &str,
        index: u64,
        wait: Duration,
    ) -> Result<KvRead, ConsulError> {
        let mut url = format!("{}/v1/kv/{}?raw", self.base, escape_key(key));
        if index > 0 {
            url.push_str(&format!("&index={index}&wait={}ms", wait.as_millis()));
        }
        // Consul may hold the request for wait + wait/16 jitter.
        let timeout = wait + wait / 16 + Duration::from_secs(5);
        let response = self.http.get(&url).timeout(timeout).send().await?;
        let status = response.status().as_u16();
        let index = response
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match status {
            200 => {
                let bytes = response.bytes().await?;
                Ok(KvRead {
                    index,
                    value: Some(String::from_utf8_lossy(&bytes).into_owned()),
                })
            }
            404 => Ok(KvRead { index, value: None }),
            _ => Err(ConsulError::Status {
                status,
                body: response.text().await.unwrap_or_default(),
            }),
        }
    }

    /// `PUT /v1/agent/service/register` with the service and its checks.
    pub async fn register_service(&self, registration: &Value) -> Result<(), ConsulError> {
        let url = format!("{}/v1/agent/service/register", self.base);
        let response = self
            .http
            .put(url)
            .json(registration)
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        Self::expect_ok(response).await
    }

    /// `PUT /v1/agent/service/deregister/<id>`.
    pub async fn deregister_service(&self, id: &str) -> Result<(), ConsulError> {
        let url = format!(
            "{}/v1/agent/service/deregister/{}",
            self.base,
            escape_key(id)
        );
        let response = self
            .http
            .put(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        Self::expect_ok(response).await
    }

    /// `GET /v1/agent/checks`: (service ID, status) of every check of the agent.
    pub async fn check_statuses(&self) -> Result<Vec<(String, String)>, ConsulError> {
        let url = format!("{}/v1/agent/checks", self.base);
        let response = self
            .http
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ConsulError::Status {
                status,
                body: response.text().await.unwrap_or_default(),
            });
        }
        let checks: serde_json::Map<String, Value> = response.json().await?;
        let field = |c: &Value, name: &str| c[name].as_str().unwrap_or_default().to_string();
        Ok(checks
            .values()
            .map(|c| (field(c, "ServiceID"), field(c, "Status")))
            .collect())
    }

    async fn expect_ok(response: reqwest::Response) -> Result<(), ConsulError> {
        let status = response.status().as_u16();
        if status == 200 {
            Ok(())
        } else {
            Err(ConsulError::Status {
                status,
                body: response.text().await.unwrap_or_default(),
            })
        }
    }
}
